package selector

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp // = <> < > <= >= + - * / ( ) ,
	tKeyword
)

type token struct {
	kind tokKind
	s    string
	num  float64
	pos  int
}

var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true, "ESCAPE": true,
	"IS": true, "NULL": true, "BETWEEN": true, "TRUE": true, "FALSE": true}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			// SQL string literal; '' is an escaped quote.
			var sb strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("unterminated string at %d", i)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						sb.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(src[j])
				j++
			}
			out = append(out, token{kind: tString, s: sb.String(), pos: i})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			n, j, err := scanNumber(src, i)
			if err != nil {
				return nil, err
			}
			out = append(out, token{kind: tNumber, num: n, s: src[i:j], pos: i})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			w := src[i:j]
			if up := strings.ToUpper(w); keywords[up] {
				out = append(out, token{kind: tKeyword, s: up, pos: i})
			} else {
				out = append(out, token{kind: tIdent, s: w, pos: i})
			}
			i = j
		case c == '"':
			// Quoted identifier, for header names that are not identifiers.
			j := strings.IndexByte(src[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quoted name at %d", i)
			}
			out = append(out, token{kind: tIdent, s: src[i+1 : i+1+j], pos: i})
			i += j + 2
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "<>", "<=", ">=", "!=":
				if two == "!=" {
					two = "<>"
				}
				out = append(out, token{kind: tOp, s: two, pos: i})
				i += 2
				continue
			}
			if strings.IndexByte("=<>+-*/(),", c) < 0 {
				return nil, fmt.Errorf("unexpected character %q at %d", c, i)
			}
			out = append(out, token{kind: tOp, s: string(c), pos: i})
			i++
		}
	}
	return append(out, token{kind: tEOF, pos: len(src)}), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' || c >= 0x80
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '.' }

// scanNumber reads an integer (decimal or 0x hex), a decimal or an
// exponent form, with an optional Java suffix (L, F, D).
func scanNumber(src string, i int) (float64, int, error) {
	j := i
	if j+1 < len(src) && src[j] == '0' && (src[j+1] == 'x' || src[j+1] == 'X') {
		j += 2
		for j < len(src) && isHex(src[j]) {
			j++
		}
		v, err := strconv.ParseInt(src[i+2:j], 16, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bad number %q", src[i:j])
		}
		if j < len(src) && (src[j] == 'l' || src[j] == 'L') {
			j++
		}
		return float64(v), j, nil
	}
	for j < len(src) && (isDigit(src[j]) || src[j] == '.') {
		j++
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	v, err := strconv.ParseFloat(src[i:j], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("bad number %q", src[i:j])
	}
	if j < len(src) && strings.IndexByte("lLfFdD", src[j]) >= 0 {
		j++
	}
	return v, j, nil
}

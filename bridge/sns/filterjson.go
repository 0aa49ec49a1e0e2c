package sns

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// policyLexer is a small JSON tokenizer for filter policies. Besides
// tokens it reproduces the parser location that Amazon SNS (which parses
// policies with a streaming Jackson parser) prints in its validation
// errors ("\n at [Source: (String)\"...\"; line: 1, column: N]"):
//
//   - reading a field name also consumes the colon and the first lexeme of
//     its value (the opening quote of a string, a whole number or literal,
//     a bracket), and the value token is then handed out without moving;
//   - a string token only consumes its opening quote until its text is
//     read;
//   - every other token is consumed whole.
//
// The column is therefore 1 + the characters consumed so far on the line.
type policyLexer struct {
	src  string
	pos  int // scan position
	loc  int // reported position (see above)
	tok  lexTok
	next *lexTok // value token read ahead with a field name
	// stack of open containers: '{' or '['
	stack []byte
	// expectValue: inside an array, a value (not a separator) comes next
	first bool
}

// maxPolicyDepth bounds nesting so that a hostile policy cannot recurse deeply.
const maxPolicyDepth = 64

type lexKind int

const (
	tEOF lexKind = iota
	tObjStart
	tObjEnd
	tArrStart
	tArrEnd
	tField
	tString
	tNumber
	tTrue
	tFalse
	tNull
)

type lexTok struct {
	kind  lexKind
	start int    // first byte of the lexeme
	end   int    // byte after the lexeme
	text  string // field name, decoded string, or raw number/literal
	num   float64
}

// syntaxError is a JSON syntax error, reported as AWS does for policies
// that are not JSON at all.
type syntaxError struct {
	msg string
	pos int
}

func (l *policyLexer) fail(pos int, format string, args ...any) {
	panic(&syntaxError{msg: fmt.Sprintf(format, args...), pos: pos})
}

func (l *policyLexer) skipSpace() {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

func charDesc(s string, pos int) string {
	if pos >= len(s) {
		return "end-of-input"
	}
	r, _ := utf8.DecodeRuneInString(s[pos:])
	return fmt.Sprintf("'%c' (code %d)", r, r)
}

// Next returns the next token. Field names are returned as tField (text =
// name); the value follows on the next call.
func (l *policyLexer) Next() lexTok {
	if l.next != nil {
		t := *l.next
		l.next = nil
		l.tok = t
		l.afterValue()
		return t
	}
	l.skipSpace()
	if len(l.stack) > 0 && !l.first {
		// separator or close
		top := l.stack[len(l.stack)-1]
		if l.pos >= len(l.src) {
			l.fail(l.pos, "Unexpected end-of-input: expected close marker for %s", containerName(top))
		}
		c := l.src[l.pos]
		switch {
		case top == '{' && c == '}', top == '[' && c == ']':
			l.pos++
			l.stack = l.stack[:len(l.stack)-1]
			k := tObjEnd
			if c == ']' {
				k = tArrEnd
			}
			l.tok = lexTok{kind: k, start: l.pos - 1, end: l.pos, text: string(c)}
			l.loc = l.pos
			return l.tok
		case c == ',':
			l.pos++
			l.skipSpace()
		default:
			sep := "Array entries"
			if top == '{' {
				sep = "Object entries"
			}
			l.fail(l.pos, "Unexpected character (%s): was expecting comma to separate %s", charDesc(l.src, l.pos), sep)
		}
	}
	if len(l.stack) > 0 && l.stack[len(l.stack)-1] == '{' {
		first := l.first
		l.first = false
		if l.pos < len(l.src) && l.src[l.pos] == '}' && first {
			l.pos++
			l.stack = l.stack[:len(l.stack)-1]
			l.tok = lexTok{kind: tObjEnd, start: l.pos - 1, end: l.pos, text: "}"}
			l.loc = l.pos
			l.afterValue()
			return l.tok
		}
		if l.pos >= len(l.src) {
			l.fail(l.pos, "Unexpected end-of-input: expected close marker for OBJECT")
		}
		if l.src[l.pos] != '"' {
			l.fail(l.pos, "Unexpected character (%s): was expecting double-quote to start field name", charDesc(l.src, l.pos))
		}
		start := l.pos
		name := l.readString()
		field := lexTok{kind: tField, start: start, end: l.pos, text: name}
		l.skipSpace()
		if l.pos >= len(l.src) || l.src[l.pos] != ':' {
			l.fail(l.pos, "Unexpected character (%s): was expecting a colon to separate field name and value", charDesc(l.src, l.pos))
		}
		l.pos++
		v := l.value()
		l.next = &v
		l.tok = field
		return field
	}
	if l.first && len(l.stack) > 0 && l.pos < len(l.src) && l.src[l.pos] == ']' {
		l.pos++
		l.stack = l.stack[:len(l.stack)-1]
		l.first = false
		l.loc = l.pos
		l.tok = lexTok{kind: tArrEnd, start: l.pos - 1, end: l.pos, text: "]"}
		return l.tok
	}
	l.first = false
	t := l.value()
	l.tok = t
	l.afterValue()
	return t
}

func containerName(c byte) string {
	if c == '{' {
		return "OBJECT"
	}
	return "ARRAY"
}

// afterValue updates container state once a value token is handed out.
func (l *policyLexer) afterValue() {
	switch l.tok.kind {
	case tObjStart, tArrStart:
		l.first = true
	}
}

// value scans one value lexeme and sets loc per the rules above.
func (l *policyLexer) value() lexTok {
	l.skipSpace()
	if l.pos >= len(l.src) {
		if len(l.stack) == 0 {
			return lexTok{kind: tEOF, start: l.pos, end: l.pos}
		}
		l.fail(l.pos, "Unexpected end-of-input: expected close marker for %s", containerName(l.stack[len(l.stack)-1]))
	}
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '{' || c == '[':
		if len(l.stack) >= maxPolicyDepth {
			l.fail(l.pos, "Document nesting depth exceeds the maximum allowed (%d)", maxPolicyDepth)
		}
		l.pos++
		l.stack = append(l.stack, c)
		l.loc = l.pos
		k := tObjStart
		if c == '[' {
			k = tArrStart
		}
		return lexTok{kind: k, start: start, end: l.pos, text: string(c)}
	case c == '"':
		s := l.readString()
		l.loc = start + 1
		return lexTok{kind: tString, start: start, end: l.pos, text: s}
	case c == '-' || (c >= '0' && c <= '9'):
		return l.number()
	}
	// literals and garbage: read an identifier-like token as Jackson does.
	end := l.pos
	for end < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[end:])
		if !(r == '_' || r == '$' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r > 127) {
			break
		}
		end += n
	}
	word := l.src[l.pos:end]
	var k lexKind
	switch word {
	case "true":
		k = tTrue
	case "false":
		k = tFalse
	case "null":
		k = tNull
	default:
		if word == "" {
			l.fail(l.pos, "Unexpected character (%s): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')", charDesc(l.src, l.pos))
		}
		l.fail(end, "Unrecognized token '%s': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')", word)
	}
	l.pos = end
	l.loc = end
	return lexTok{kind: k, start: start, end: end, text: word}
}

func (l *policyLexer) number() lexTok {
	start := l.pos
	end := l.pos
	if l.src[end] == '-' {
		end++
	}
	digits := end
	for end < len(l.src) && l.src[end] >= '0' && l.src[end] <= '9' {
		end++
	}
	if end == digits {
		l.fail(end, "Unexpected character (%s) in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value", charDesc(l.src, end))
	}
	if end < len(l.src) && l.src[end] == '.' {
		end++
		d := end
		for end < len(l.src) && l.src[end] >= '0' && l.src[end] <= '9' {
			end++
		}
		if d == end {
			l.fail(end, "Unexpected character (%s) in numeric value: Decimal point not followed by a digit", charDesc(l.src, end))
		}
	}
	if end < len(l.src) && (l.src[end] == 'e' || l.src[end] == 'E') {
		end++
		if end < len(l.src) && (l.src[end] == '+' || l.src[end] == '-') {
			end++
		}
		d := end
		for end < len(l.src) && l.src[end] >= '0' && l.src[end] <= '9' {
			end++
		}
		if d == end {
			l.fail(end, "Unexpected character (%s) in numeric value: Exponent indicator not followed by a digit", charDesc(l.src, end))
		}
	}
	raw := l.src[start:end]
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		l.fail(end, "Numeric value (%s) out of range of double", raw)
	}
	l.pos = end
	l.loc = end
	return lexTok{kind: tNumber, start: start, end: end, text: raw, num: f}
}

// readString decodes a JSON string starting at l.pos (a quote).
func (l *policyLexer) readString() string {
	l.pos++ // opening quote
	var sb strings.Builder
	for {
		if l.pos >= len(l.src) {
			l.fail(l.pos, "Unexpected end-of-input: was expecting closing quote for a string value")
		}
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return sb.String()
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				l.fail(l.pos, "Unexpected end-of-input in character escape sequence")
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				if l.pos+4 > len(l.src) {
					l.fail(len(l.src), "Unexpected end-of-input in character escape sequence")
				}
				v, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
				if err != nil {
					l.fail(l.pos, "Unexpected character (%s): expected a hex-digit for character escape sequence", charDesc(l.src, l.pos))
				}
				l.pos += 4
				r := rune(v)
				if r >= 0xD800 && r < 0xDC00 && l.pos+6 <= len(l.src) && l.src[l.pos] == '\\' && l.src[l.pos+1] == 'u' {
					if lo, err := strconv.ParseUint(l.src[l.pos+2:l.pos+6], 16, 32); err == nil && lo >= 0xDC00 && lo < 0xE000 {
						r = (r-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000
						l.pos += 6
					}
				}
				sb.WriteRune(r)
			default:
				l.fail(l.pos, "Unrecognized character escape %s", charDesc(l.src, l.pos-1))
			}
		case c < 0x20:
			l.fail(l.pos, "Illegal unquoted character ((CTRL-CHAR, code %d)): has to be escaped using backslash to be included in string value", c)
		default:
			sb.WriteByte(c)
			l.pos++
		}
	}
}

// readText marks the current string token as fully read (moves the
// reported location past its closing quote) and returns its text.
func (l *policyLexer) readText() string {
	if l.tok.kind == tString {
		l.loc = l.tok.end
	}
	return l.tok.text
}

// location renders Jackson's location suffix for position p.
func location(src string, p int) string {
	if p > len(src) {
		p = len(src)
	}
	line := 1 + strings.Count(src[:p], "\n")
	ls := strings.LastIndexByte(src[:p], '\n') + 1
	col := utf8.RuneCountInString(src[ls:p]) + 1
	shown := src
	trunc := ""
	if n := utf8.RuneCountInString(src); n > 500 {
		i := 0
		for k := 0; k < 500; k++ {
			_, sz := utf8.DecodeRuneInString(src[i:])
			i += sz
		}
		shown = src[:i]
		trunc = fmt.Sprintf("[truncated %d chars]", n-500)
	}
	return fmt.Sprintf("\n at [Source: (String)\"%s\"%s; line: %d, column: %d]", shown, trunc, line, col)
}

// syntaxLocation is the location AWS prints for plain JSON syntax errors
// (its newer parser redacts the source there).
func syntaxLocation(src string, p int) string {
	if p > len(src) {
		p = len(src)
	}
	line := 1 + strings.Count(src[:p], "\n")
	ls := strings.LastIndexByte(src[:p], '\n') + 1
	col := utf8.RuneCountInString(src[ls:p]) + 1
	return fmt.Sprintf("\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: %d, column: %d]", line, col)
}

// skipValue consumes the rest of the value that starts with t.
func (l *policyLexer) skipValue(t lexTok) {
	switch t.kind {
	case tObjStart:
		for {
			f := l.Next()
			if f.kind == tObjEnd {
				return
			}
			l.skipValue(l.Next())
		}
	case tArrStart:
		for {
			e := l.Next()
			if e.kind == tArrEnd {
				return
			}
			l.skipValue(e)
		}
	}
}

package selector

import (
	"fmt"
	"unicode/utf8"
)

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(s string) bool { t := p.peek(); return t.kind == tKeyword && t.s == s }
func (p *parser) isOp(s string) bool { t := p.peek(); return t.kind == tOp && t.s == s }

func (p *parser) errAt(what string) error {
	t := p.peek()
	if t.kind == tEOF {
		return fmt.Errorf("expected %s at end of selector", what)
	}
	return fmt.Errorf("expected %s at %d, found %q", what, t.pos, t.s)
}

// expr := and (OR and)*
func (p *parser) expr(depth int) (node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("selector nested deeper than %d", MaxDepth)
	}
	a, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.isKw("OR") {
		p.next()
		b, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		a = orNode{a, b}
	}
	return a, nil
}

// and := not (AND not)*
func (p *parser) and(depth int) (node, error) {
	a, err := p.not(depth)
	if err != nil {
		return nil, err
	}
	for p.isKw("AND") {
		p.next()
		b, err := p.not(depth)
		if err != nil {
			return nil, err
		}
		a = andNode{a, b}
	}
	return a, nil
}

// not := NOT not | predicate
func (p *parser) not(depth int) (node, error) {
	if p.isKw("NOT") {
		if depth > MaxDepth {
			return nil, fmt.Errorf("selector nested deeper than %d", MaxDepth)
		}
		p.next()
		x, err := p.not(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.predicate(depth)
}

// predicate := sum [cmp sum | [NOT] BETWEEN sum AND sum | [NOT] IN (...) |
// [NOT] LIKE 'p' [ESCAPE 'c'] | IS [NOT] NULL]
func (p *parser) predicate(depth int) (node, error) {
	a, err := p.sum(depth)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == tOp {
		switch t.s {
		case "=", "<>", "<", ">", "<=", ">=":
			p.next()
			b, err := p.sum(depth)
			if err != nil {
				return nil, err
			}
			return cmpNode{t.s, a, b}, nil
		}
	}
	if p.isKw("IS") {
		p.next()
		neg := false
		if p.isKw("NOT") {
			p.next()
			neg = true
		}
		if !p.isKw("NULL") {
			return nil, p.errAt("NULL")
		}
		p.next()
		var n node = isNullNode{a}
		if neg {
			n = notNode{n}
		}
		return n, nil
	}
	neg := false
	if p.isKw("NOT") {
		p.next()
		neg = true
		if !p.isKw("BETWEEN") && !p.isKw("IN") && !p.isKw("LIKE") {
			return nil, p.errAt("BETWEEN, IN or LIKE")
		}
	}
	var n node
	switch {
	case p.isKw("BETWEEN"):
		p.next()
		lo, err := p.sum(depth)
		if err != nil {
			return nil, err
		}
		if !p.isKw("AND") {
			return nil, p.errAt("AND")
		}
		p.next()
		hi, err := p.sum(depth)
		if err != nil {
			return nil, err
		}
		n = betweenNode{a, lo, hi}
	case p.isKw("IN"):
		p.next()
		if !p.isOp("(") {
			return nil, p.errAt("(")
		}
		p.next()
		var list []value
		for {
			t := p.next()
			switch t.kind {
			case tString:
				list = append(list, t.s)
			case tNumber:
				list = append(list, t.num)
			default:
				return nil, fmt.Errorf("IN list takes literals, found %q at %d", t.s, t.pos)
			}
			if p.isOp(",") {
				p.next()
				continue
			}
			if !p.isOp(")") {
				return nil, p.errAt(") or ,")
			}
			p.next()
			break
		}
		n = inNode{a, list}
	case p.isKw("LIKE"):
		p.next()
		t := p.next()
		if t.kind != tString {
			return nil, fmt.Errorf("LIKE takes a string pattern at %d", t.pos)
		}
		var esc rune
		if p.isKw("ESCAPE") {
			p.next()
			e := p.next()
			if e.kind != tString || utf8.RuneCountInString(e.s) != 1 {
				return nil, fmt.Errorf("ESCAPE takes a one-character string at %d", e.pos)
			}
			esc, _ = utf8.DecodeRuneInString(e.s)
		}
		re, err := likeRegexp(t.s, esc)
		if err != nil {
			return nil, err
		}
		n = likeNode{a, re}
	default:
		if neg {
			return nil, p.errAt("BETWEEN, IN or LIKE")
		}
		return a, nil
	}
	if neg {
		n = notNode{n}
	}
	return n, nil
}

// sum := product ((+|-) product)*
func (p *parser) sum(depth int) (node, error) {
	a, err := p.product(depth)
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.next().s[0]
		b, err := p.product(depth)
		if err != nil {
			return nil, err
		}
		a = arithNode{op, a, b}
	}
	return a, nil
}

// product := unary ((*|/) unary)*
func (p *parser) product(depth int) (node, error) {
	a, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") {
		op := p.next().s[0]
		b, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		a = arithNode{op, a, b}
	}
	return a, nil
}

// unary := (+|-) unary | primary
func (p *parser) unary(depth int) (node, error) {
	if p.isOp("-") || p.isOp("+") {
		if depth > MaxDepth {
			return nil, fmt.Errorf("selector nested deeper than %d", MaxDepth)
		}
		neg := p.next().s == "-"
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		if neg {
			return negNode{x}, nil
		}
		return x, nil
	}
	return p.primary(depth)
}

// primary := ( expr ) | literal | identifier
func (p *parser) primary(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tOp:
		if t.s == "(" {
			n, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			if !p.isOp(")") {
				return nil, p.errAt(")")
			}
			p.next()
			return n, nil
		}
	case tString:
		return litNode{t.s}, nil
	case tNumber:
		return litNode{t.num}, nil
	case tIdent:
		return identNode{t.s}, nil
	case tKeyword:
		switch t.s {
		case "TRUE":
			return litNode{true}, nil
		case "FALSE":
			return litNode{false}, nil
		case "NULL":
			return litNode{nil}, nil
		}
	case tEOF:
		return nil, fmt.Errorf("unexpected end of selector")
	}
	return nil, fmt.Errorf("unexpected %q at %d", t.s, t.pos)
}

package selector

import (
	"testing"
)

func fields(m map[string]any) Lookup {
	return func(n string) (any, bool) { v, ok := m[n]; return v, ok }
}

func TestMatch(t *testing.T) {
	h := fields(map[string]any{"color": "red", "size": "10", "weight": 2.5, "n": int64(7), "flag": true,
		"name": "a_b%c", "empty": ""})
	cases := []struct {
		sel  string
		want bool
	}{
		{"color = 'red'", true},
		{"color <> 'red'", false},
		{"color != 'blue'", true},
		{"size > 5", true}, // string header compared as a number
		{"size >= 10 AND size <= 10", true},
		{"size < 5", false},
		{"weight * 2 = 5", true},
		{"n - 2 = 5 AND n / 7 = 1 AND -n = -7 AND +n = 7", true},
		{"n / 0 = 1", false}, // unknown
		{"color = 'red' OR missing = 1", true},
		{"missing = 1 OR color = 'red'", true},
		{"missing = 1 AND color = 'red'", false},
		{"NOT (missing = 1)", false}, // NOT unknown is unknown
		{"NOT color = 'blue'", true},
		{"color IN ('green', 'red')", true},
		{"color NOT IN ('green', 'red')", false},
		{"missing NOT IN ('x')", false},
		{"n IN (1, 7)", true},
		{"color LIKE 'r%'", true},
		{"color LIKE 'r_d'", true},
		{"color LIKE 'r_'", false},
		{"color NOT LIKE 'b%'", true},
		{"name LIKE 'a\\_b\\%c' ESCAPE '\\'", true},
		{"name LIKE 'a!_b!%_' ESCAPE '!'", true},
		{"missing IS NULL", true},
		{"color IS NULL", false},
		{"color IS NOT NULL", true},
		{"empty = ''", true},
		{"n BETWEEN 5 AND 8", true},
		{"n NOT BETWEEN 5 AND 8", false},
		{"n BETWEEN 8 AND 9", false},
		{"flag = TRUE", true},
		{"flag", true},
		{"NOT flag", false},
		{"flag < TRUE", false},
		{"(color = 'red' OR color = 'blue') AND (size > 1)", true},
		{"color = 'it''s'", false},
		{"0x10 = 16 AND 1e1 = 10 AND 10L = 10 AND 1.5 = 1.5 AND .5 = 0.5", true},
		{"\"color\" = 'red'", true},
		{"color = 1", false}, // not comparable: unknown
		{"TRUE OR missing", true},
		{"FALSE AND missing", false},
	}
	for _, c := range cases {
		s, err := Parse(c.sel)
		if err != nil {
			t.Errorf("%s: %v", c.sel, err)
			continue
		}
		if got := s.Match(h); got != c.want {
			t.Errorf("%s = %v, want %v", c.sel, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "color =", "color = 'x", "a IN ()", "a IN (b)", "a LIKE 1", "a LIKE 'x' ESCAPE 'ab'",
		"a IS 1", "a NOT = 1", "(a = 1", "a = 1)", "a BETWEEN 1", "a ~ 1", "AND", "a LIKE 'x!' ESCAPE '!'", "\"unterminated",
		"0xZZ = 1", "a NOT"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	deep := ""
	for i := 0; i < 200; i++ {
		deep += "("
	}
	if _, err := Parse(deep + "a=1"); err == nil {
		t.Error("deep nesting accepted")
	}
	nots := ""
	for i := 0; i < 200; i++ {
		nots += "NOT "
	}
	if _, err := Parse(nots + "a"); err == nil {
		t.Error("deep NOT accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"color = 'red'", "a > 1 AND b IN ('x','y') OR NOT c LIKE 'z%' ESCAPE '!'",
		"x IS NOT NULL", "n BETWEEN -1 AND 2.5e3", "((a))", "a * b / c - -d = 0x1F"} {
		f.Add(s)
	}
	h := fields(map[string]any{"a": "1", "b": "x", "c": "zz", "n": 3.0, "x": true})
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		sel.Match(h)
		sel.Match(fields(nil))
	})
}

package query

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzQueryParse feeds arbitrary text to Parse. It must never panic or hang;
// it returns a *SyntaxError with an in-range position, or a Query whose
// evaluation over sample documents does not panic either.
func FuzzQueryParse(f *testing.F) {
	for _, tc := range queryCases() {
		f.Add(tc.query)
	}
	for _, tc := range moduleCases() {
		f.Add(tc.query)
	}
	for _, s := range []string{
		"", "SELECT", "SELECT * FROM", "SELECT * FROM devices WHERE (", "SELECT * FROM devices WHERE 'abc",
		"SELECT * FROM devices WHERE x IN [1,", "SELECT TOP 1e9 * FROM devices", "SELECT * FROM devices WHERE a[99999999999]",
		"SELECT * FROM devices WHERE x = '\\u12", "SELECT * FROM devices WHERE NOT NOT NOT", "SELECT * FROM devices WHERE a.b.c.d.e.f = 0x",
		"SELECT x AS y, COUNT() FROM devices GROUP BY x", "SELECT * FROM devices WHERE SUBSTRING(deviceId, -1, 1e300) = ''",
		"SELECT * FROM devices WHERE 1 / 0 = 1 % 0", "SELECT * FROM devices WHERE tags[0] = tags['']",
	} {
		f.Add(s)
	}
	sample := []map[string]any{makeDevice(0), makeDevice(3), makeDevice(13), makeDevice(17), makeDevice(38), {}, {"deviceId": nil, "tags": []any{1.0, "x", nil}}}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(text)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, not *SyntaxError: %v", err, err)
			}
			if se.Pos < 0 || se.Pos > len(text) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("position out of range: %+v for %d bytes", se, len(text))
			}
			return
		}
		if utf8.RuneCountInString(text) > MaxQueryLength {
			t.Fatalf("accepted a query over the length limit")
		}
		if _, err := q.Rows(sample); err != nil {
			t.Fatalf("Rows: %v", err)
		}
		e := NewEngine(&EngineOptions{Secret: []byte("fuzz")})
		store := newMemStore(func(d map[string]any) string { return "k" }, sample[:1])
		if _, err := e.Page(q, store, "", 1); err != nil {
			t.Fatalf("Page: %v", err)
		}
	})
}

// FuzzContinuation feeds arbitrary tokens to Page: each is either rejected
// with ErrBadContinuation or (for tokens the engine issued) accepted; it
// never panics.
func FuzzContinuation(f *testing.F) {
	store := newMemStore(deviceKey, newFleet(50).devices)
	e := NewEngine(&EngineOptions{Secret: []byte("fuzz")})
	q, err := Parse("SELECT deviceId FROM devices")
	if err != nil {
		f.Fatal(err)
	}
	res, err := e.Page(q, store, "", 3)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(res.Continuation)
	f.Add("")
	f.Add("AQE")
	f.Fuzz(func(t *testing.T, tok string) {
		res, err := e.Page(q, store, tok, 3)
		if err != nil {
			if !errors.Is(err, ErrBadContinuation) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if len(res.Items) > 3 {
			t.Fatalf("page too large: %d", len(res.Items))
		}
	})
}

package query

import (
	"testing"
)

// BenchmarkQueryAll pages through 10,000 twins and reports twins per second.
func BenchmarkQueryAll(b *testing.B) {
	store := newMemStore(deviceKey, bigDevices())
	e := NewEngine(nil)
	for _, bc := range []struct {
		name  string
		query string
		size  int
	}{
		{"select-all/page100", "SELECT * FROM devices", 100},
		{"select-all/page1000", "SELECT * FROM devices", 1000},
		{"filter-project/page100", "SELECT deviceId, tags.building AS b FROM devices WHERE tags.floor > 2 AND STARTSWITH(deviceId, 'dev-1')", 100},
		{"filter-project/page1000", "SELECT deviceId, tags.building AS b FROM devices WHERE tags.floor > 2 AND STARTSWITH(deviceId, 'dev-1')", 1000},
		{"group-by/page100", "SELECT tags.building AS b, properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY tags.building, properties.reported.fw", 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := mustParse(b, bc.query)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tok := ""
				for {
					res, err := e.Page(q, store, tok, bc.size)
					if err != nil {
						b.Fatal(err)
					}
					if res.Continuation == "" {
						break
					}
					tok = res.Continuation
				}
			}
			b.ReportMetric(float64(bigFleet)*float64(b.N)/b.Elapsed().Seconds(), "twins/s")
		})
	}
}

// BenchmarkParse measures parsing a typical filtered projection.
func BenchmarkParse(b *testing.B) {
	const text = "SELECT deviceId, tags.location AS loc, properties.reported.fw FROM devices WHERE tags.region IN ['eu', 'us'] AND (properties.reported.battery < 20 OR NOT IS_DEFINED(properties.reported.fw))"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

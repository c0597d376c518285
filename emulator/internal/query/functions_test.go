package query

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExpressions checks scalar functions and operators one condition at a
// time against a single document.
func TestExpressions(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"deviceId": "Sensor-42",
		"n":        float64(7),
		"neg":      float64(-2.5),
		"s":        "  padded  ",
		"num":      "12.5",
		"nul":      nil,
		"arr":      []any{"x", float64(1)},
		"obj":      map[string]any{"größe": "XL", "a b": true},
		"count":    3, // a Go int, as a caller might store
	}
	cases := []struct {
		cond string
		want bool
	}{
		{"STARTSWITH(deviceId, 'Sensor')", true},
		{"STARTSWITH(deviceId, 'sensor')", false},
		{"STARTSWITH(deviceId, 'sensor', true)", true},
		{"ENDSWITH(deviceId, '42', false)", true},
		{"CONTAINS(deviceId, 'SOR-4', true)", true},
		{"CONTAINS(deviceId, 'x', 'yes')", false},
		{"CONCAT(deviceId, '/', 'm') = 'Sensor-42/m'", true},
		{"CONCAT(deviceId, n) = 'Sensor-427'", false},
		{"SUBSTRING(deviceId, 7) = '42'", true},
		{"SUBSTRING(deviceId, 0, 6) = 'Sensor'", true},
		{"SUBSTRING(deviceId, -3, 100) = 'Sensor-42'", true},
		{"INDEX_OF(deviceId, '-') = 6", true},
		{"INDEX_OF(deviceId, 'zz') = -1", true},
		{"AS_NUMBER(num) = 12.5", true},
		{"AS_NUMBER(deviceId) = 0", false},
		{"IS_DEFINED(AS_NUMBER(deviceId))", false},
		{"ABS(neg) = 2.5", true},
		{"CEILING(neg) = -2", true},
		{"FLOOR(neg) = -3", true},
		{"TRIM(s) = 'padded'", true},
		{"LTRIM(s) = 'padded  '", true},
		{"RTRIM(s) = '  padded'", true},
		{"LENGTH(obj.größe) = 2", true},
		{"obj['a b'] = true", true},
		{"arr[0] = 'x' AND arr[1] = 1 AND NOT IS_DEFINED(arr[2])", true},
		{"IS_ARRAY(arr) AND IS_OBJECT(obj) AND IS_PRIMITIVE(nul) AND NOT IS_PRIMITIVE(arr)", true},
		{"count = 3", true},
		{"n / 0 = 1 OR n % 0 = 1", false},
		{"NOT (n / 0 = 1)", false},
		{"n * 2 - 4 = 10 AND n % 4 = 3 AND -n = -7 AND +n = 7", true},
		{"+deviceId = 'Sensor-42'", false},
		{"n + deviceId = 1", false},
		{"nul = null AND NOT (nul != null)", true},
		{"nul < null", false},
		{"deviceId = null", false},
		{"NOT (deviceId = null)", false},
		{"true AND 'x'", false},
		{"NOT (true AND 'x')", false},
		{"false AND 'x'", false},
		{"NOT (false AND 'x')", true},
		{"true OR 'x'", true},
		{"NOT (false OR 'x')", false},
		{"false < true AND 'a' < 'b' AND 'B' < 'a'", true},
		{"obj = obj", false},
		{"arr = [\"x\", 1]", false},
		{"n IN [1, '7', 7]", true},
		{"n NIN [1, 2]", true},
		{"n NIN ['7']", false},
		{"NOT (n NIN ['7'])", false},
		{"missing NIN [1]", false},
		{"nul IN [null]", true},
		{"DEVICEID = 'Sensor-42'", true},
		{"'Sensor-42' = deviceId", true},
		{"0x10 = 16 AND 1.5e1 = 15 AND .5 = 0.5", true},
		{"'\\u0041\\'' = \"A'\"", true},
		{"undefined = undefined", false},
		{"NOT IS_DEFINED(undefined)", true},
	}
	for _, tc := range cases {
		c, err := ParseCondition(tc.cond)
		require.NoError(t, err, tc.cond)
		assert.Equal(t, tc.want, c.Matches(doc), tc.cond)
	}
}

// TestConcurrentPages runs one parsed query from many goroutines: a Query and
// an Engine are shared read-only.
func TestConcurrentPages(t *testing.T) {
	t.Parallel()
	f := newFleet(fleetSize)
	store := newMemStore(deviceKey, f.devices)
	e := NewEngine(nil)
	queries := []*Query{
		mustParse(t, "SELECT * FROM devices WHERE tags.floor > 2"),
		mustParse(t, "SELECT tags.building AS b, COUNT() AS n FROM devices GROUP BY tags.building"),
	}
	want := make([]int, len(queries))
	for i, q := range queries {
		want[i] = len(runAll(t, e, q, store, 0))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := queries[g%len(queries)]
			n, tok := 0, ""
			for {
				res, err := e.Page(q, store, tok, 3+g)
				if !assert.NoError(t, err) {
					return
				}
				n += len(res.Items)
				if tok = res.Continuation; tok == "" {
					break
				}
			}
			assert.Equal(t, want[g%len(queries)], n)
		}()
	}
	wg.Wait()
}

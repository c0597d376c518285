package query

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fleetSize = 300

// queryCase is one query with its expected rows, computed by plain Go over
// the fleet, never by the engine.
type queryCase struct {
	name      string
	query     string
	want      func(f *fleet) []map[string]any
	unordered bool // aggregate rows: compare as a set
}

func devicesWhere(pred func(map[string]any) bool) func(*fleet) []map[string]any {
	return func(f *fleet) []map[string]any { return filter(f.devices, pred) }
}

func strIs(want string, keys ...string) func(map[string]any) bool {
	return func(d map[string]any) bool { s, ok := getStr(d, keys...); return ok && s == want }
}

func numIs(pred func(float64) bool, keys ...string) func(map[string]any) bool {
	return func(d map[string]any) bool { n, ok := getNum(d, keys...); return ok && pred(n) }
}

func strPred(pred func(string) bool, keys ...string) func(map[string]any) bool {
	return func(d map[string]any) bool { s, ok := getStr(d, keys...); return ok && pred(s) }
}

var (
	fw       = []string{"properties", "reported", "fw"}
	floor    = []string{"tags", "floor"}
	region   = []string{"tags", "region"}
	building = []string{"tags", "building"}
	battery  = []string{"properties", "reported", "battery"}
)

// countBy groups docs by the values named by keyFn (omitting undefined ones)
// and returns one row per group with the count under name n.
func countBy(docs []map[string]any, keyFn func(map[string]any) map[string]any) []map[string]any {
	counts := map[string]int{}
	rows := map[string]map[string]any{}
	for _, d := range docs {
		k := keyFn(d)
		b, _ := json.Marshal(k)
		counts[string(b)]++
		rows[string(b)] = k
	}
	out := []map[string]any{}
	for k, r := range rows {
		r["n"] = float64(counts[k])
		out = append(out, r)
	}
	return out
}

func optional(row map[string]any, name string, d map[string]any, keys ...string) {
	if v, ok := get(d, keys...); ok {
		row[name] = v
	}
}

func queryCases() []queryCase {
	return []queryCase{
		{name: "all devices", query: "SELECT * FROM devices", want: devicesWhere(func(map[string]any) bool { return true })},
		{name: "lower-case keywords", query: "select * from devices where status = 'enabled'", want: devicesWhere(strIs("enabled", "status"))},
		{name: "mixed-case keywords and functions", query: "SeLeCt * FrOm DeViCeS wHeRe Is_DeFiNeD(tags.note)", want: devicesWhere(func(d map[string]any) bool { _, ok := get(d, "tags", "note"); return ok })},
		{name: "not equal !=", query: "SELECT * FROM devices WHERE status != 'enabled'", want: devicesWhere(strPred(func(s string) bool { return s != "enabled" }, "status"))},
		{name: "not equal <>", query: "SELECT * FROM devices WHERE status <> 'disabled'", want: devicesWhere(strPred(func(s string) bool { return s != "disabled" }, "status"))},
		{name: "less than", query: "SELECT * FROM devices WHERE tags.floor < 2", want: devicesWhere(numIs(func(n float64) bool { return n < 2 }, floor...))},
		{name: "less or equal", query: "SELECT * FROM devices WHERE tags.floor <= 2", want: devicesWhere(numIs(func(n float64) bool { return n <= 2 }, floor...))},
		{name: "greater than", query: "SELECT * FROM devices WHERE tags.floor > 3", want: devicesWhere(numIs(func(n float64) bool { return n > 3 }, floor...))},
		{name: "greater or equal", query: "SELECT * FROM devices WHERE tags.floor >= 3", want: devicesWhere(numIs(func(n float64) bool { return n >= 3 }, floor...))},
		{name: "hexadecimal literal", query: "SELECT * FROM devices WHERE tags.floor = 0x3", want: devicesWhere(numIs(func(n float64) bool { return n == 3 }, floor...))},
		{name: "unary minus", query: "SELECT * FROM devices WHERE -tags.floor < -4", want: devicesWhere(numIs(func(n float64) bool { return n > 4 }, floor...))},
		{name: "AND", query: "SELECT * FROM devices WHERE tags.building = 'A' AND connectionState = 'Connected'", want: devicesWhere(func(d map[string]any) bool {
			return strIs("A", building...)(d) && strIs("Connected", "connectionState")(d)
		})},
		{name: "OR", query: "SELECT * FROM devices WHERE tags.building = 'A' OR tags.building = 'B'", want: devicesWhere(func(d map[string]any) bool {
			return strIs("A", building...)(d) || strIs("B", building...)(d)
		})},
		{name: "parentheses", query: "SELECT * FROM devices WHERE (tags.building = 'A' OR tags.building = 'B') AND tags.floor = 0", want: devicesWhere(func(d map[string]any) bool {
			return (strIs("A", building...)(d) || strIs("B", building...)(d)) && numIs(func(n float64) bool { return n == 0 }, floor...)(d)
		})},
		{name: "AND binds tighter than OR", query: "SELECT * FROM devices WHERE tags.building = 'A' OR tags.building = 'B' AND tags.floor = 0", want: devicesWhere(func(d map[string]any) bool {
			return strIs("A", building...)(d) || (strIs("B", building...)(d) && numIs(func(n float64) bool { return n == 0 }, floor...)(d))
		})},
		{name: "NOT of a comparison excludes undefined", query: "SELECT * FROM devices WHERE NOT (tags.building = 'A')", want: devicesWhere(strPred(func(s string) bool { return s != "A" }, building...))},
		{name: "NOT NOT", query: "SELECT * FROM devices WHERE NOT (NOT IS_DEFINED(tags.region))", want: devicesWhere(func(d map[string]any) bool { _, ok := get(d, region...); return ok })},
		{name: "NOT IS_DEFINED", query: "SELECT * FROM devices WHERE NOT IS_DEFINED(tags.region)", want: devicesWhere(func(d map[string]any) bool { _, ok := get(d, region...); return !ok })},
		{name: "OR with undefined side", query: "SELECT * FROM devices WHERE tags.region = 'ap' OR NOT IS_DEFINED(tags.region)", want: devicesWhere(func(d map[string]any) bool {
			s, ok := getStr(d, region...)
			return !ok || s == "ap"
		})},
		{name: "IS_DEFINED includes null", query: "SELECT * FROM devices WHERE IS_DEFINED(properties.reported.fw)", want: devicesWhere(func(d map[string]any) bool { _, ok := get(d, fw...); return ok })},
		{name: "IS_NULL", query: "SELECT * FROM devices WHERE IS_NULL(properties.reported.fw)", want: devicesWhere(func(d map[string]any) bool { v, ok := get(d, fw...); return ok && v == nil })},
		{name: "IS_STRING", query: "SELECT * FROM devices WHERE IS_STRING(properties.reported.fw)", want: devicesWhere(strPred(func(string) bool { return true }, fw...))},
		{name: "IS_NUMBER", query: "SELECT * FROM devices WHERE IS_NUMBER(properties.reported.fw)", want: devicesWhere(numIs(func(float64) bool { return true }, fw...))},
		{name: "IS_BOOL and bool literal", query: "SELECT * FROM devices WHERE IS_BOOL(properties.reported.online) AND properties.reported.online = true", want: devicesWhere(func(d map[string]any) bool { v, _ := get(d, "properties", "reported", "online"); return v == true })},
		{name: "IS_OBJECT", query: "SELECT * FROM devices WHERE IS_OBJECT(tags.location)", want: devicesWhere(func(map[string]any) bool { return false })},
		{name: "IS_OBJECT nested", query: "SELECT * FROM devices WHERE is_object(properties.reported.nested.sensor)", want: devicesWhere(func(map[string]any) bool { return true })},
		{name: "IS_ARRAY", query: "SELECT * FROM devices WHERE IS_ARRAY(properties.reported.ips)", want: devicesWhere(func(d map[string]any) bool {
			v, _ := get(d, "properties", "reported", "ips")
			_, ok := v.([]any)
			return ok
		})},
		{name: "IS_PRIMITIVE", query: "SELECT * FROM devices WHERE IS_PRIMITIVE(properties.reported.fw)", want: devicesWhere(func(d map[string]any) bool { _, ok := get(d, fw...); return ok })},
		{name: "string equality never matches numbers", query: "SELECT * FROM devices WHERE properties.reported.fw = '1.0'", want: devicesWhere(strIs("1.0", fw...))},
		{name: "number equality never matches strings", query: "SELECT * FROM devices WHERE properties.reported.fw = 1", want: devicesWhere(numIs(func(n float64) bool { return n == 1 }, fw...))},
		{name: "!= across types is undefined", query: "SELECT * FROM devices WHERE properties.reported.fw != '1.0'", want: devicesWhere(strPred(func(s string) bool { return s != "1.0" }, fw...))},
		{name: "NOT = across types is undefined", query: "SELECT * FROM devices WHERE NOT (properties.reported.fw = '1.0')", want: devicesWhere(strPred(func(s string) bool { return s != "1.0" }, fw...))},
		{name: "string ordering", query: "SELECT * FROM devices WHERE properties.reported.fw > '1.0'", want: devicesWhere(strPred(func(s string) bool { return s > "1.0" }, fw...))},
		{name: "number ordering skips strings", query: "SELECT * FROM devices WHERE properties.reported.fw < 5", want: devicesWhere(numIs(func(n float64) bool { return n < 5 }, fw...))},
		{name: "number against string literal", query: "SELECT * FROM devices WHERE tags.floor = '1'", want: devicesWhere(func(map[string]any) bool { return false })},
		{name: "equals null", query: "SELECT * FROM devices WHERE properties.reported.fw = null", want: devicesWhere(func(d map[string]any) bool { v, ok := get(d, fw...); return ok && v == nil })},
		{name: "equals undefined", query: "SELECT * FROM devices WHERE tags.region = undefined", want: devicesWhere(func(map[string]any) bool { return false })},
		{name: "IN", query: "SELECT * FROM devices WHERE tags.region IN ['eu-west', 'ap']", want: devicesWhere(strPred(func(s string) bool { return s == "eu-west" || s == "ap" }, region...))},
		{name: "NIN", query: "SELECT * FROM devices WHERE tags.region NIN ['eu-west']", want: devicesWhere(strPred(func(s string) bool { return s != "eu-west" }, region...))},
		{name: "NIN across types", query: "SELECT * FROM devices WHERE properties.reported.fw NIN ['1.0', '1.1']", want: devicesWhere(strPred(func(s string) bool { return s != "1.0" && s != "1.1" }, fw...))},
		{name: "IN on deviceId", query: "SELECT * FROM devices WHERE deviceId IN ['dev-001', 'dev-002', 'nope']", want: devicesWhere(strPred(func(s string) bool { return s == "dev-001" || s == "dev-002" }, "deviceId"))},
		{name: "STARTSWITH", query: "SELECT * FROM devices WHERE STARTSWITH(deviceId, 'dev-01')", want: devicesWhere(strPred(func(s string) bool { return len(s) >= 6 && s[:6] == "dev-01" }, "deviceId"))},
		{name: "STARTS_WITH on a number", query: "SELECT * FROM devices WHERE STARTS_WITH(tags.floor, '1')", want: devicesWhere(func(map[string]any) bool { return false })},
		{name: "ENDSWITH", query: "SELECT * FROM devices WHERE ENDSWITH(deviceId, '7')", want: devicesWhere(strPred(func(s string) bool { return s[len(s)-1] == '7' }, "deviceId"))},
		{name: "CONTAINS", query: "SELECT * FROM devices WHERE CONTAINS(tags.region, 'west')", want: devicesWhere(strIs("eu-west", region...))},
		{name: "LOWER", query: "SELECT * FROM devices WHERE LOWER(connectionState) = 'connected'", want: devicesWhere(strIs("Connected", "connectionState"))},
		{name: "UPPER", query: "SELECT * FROM devices WHERE UPPER(tags.region) = 'EU-WEST'", want: devicesWhere(strIs("eu-west", region...))},
		{name: "LENGTH", query: "SELECT * FROM devices WHERE LENGTH(tags.region) = 2", want: devicesWhere(strIs("ap", region...))},
		{name: "iotEdge capability", query: "SELECT * FROM devices WHERE capabilities.iotEdge = true", want: devicesWhere(func(d map[string]any) bool { v, _ := get(d, "capabilities", "iotEdge"); return v == true })},
		{name: "reported $version", query: "SELECT * FROM devices WHERE properties.reported.$version >= 4", want: devicesWhere(numIs(func(n float64) bool { return n >= 4 }, "properties", "reported", "$version"))},
		{name: "desired $version", query: "SELECT * FROM devices WHERE properties.desired.$version = 3", want: devicesWhere(numIs(func(n float64) bool { return n == 3 }, "properties", "desired", "$version"))},
		{name: "bracket property", query: "SELECT * FROM devices WHERE tags['some key'] = 'v'", want: devicesWhere(strIs("v", "tags", "some key"))},
		{name: "double quotes", query: `SELECT * FROM devices WHERE tags.building = "B"`, want: devicesWhere(strIs("B", building...))},
		{name: "escaped quote", query: `SELECT * FROM devices WHERE tags.note = 'it\'s'`, want: devicesWhere(strIs("it's", "tags", "note"))},
		{name: "version", query: "SELECT * FROM devices WHERE version = 2", want: devicesWhere(numIs(func(n float64) bool { return n == 2 }, "version"))},
		{name: "arithmetic", query: "SELECT * FROM devices WHERE properties.reported.battery + 10 > 100", want: devicesWhere(numIs(func(n float64) bool { return n > 90 }, battery...))},
		{name: "modulo", query: "SELECT * FROM devices WHERE properties.reported.battery % 7 = 0 AND properties.reported.battery * 2 > 20 / 2", want: devicesWhere(numIs(func(n float64) bool { return int(n)%7 == 0 && n*2 > 10 }, battery...))},
		{name: "collection-qualified path", query: "SELECT * FROM devices WHERE devices.tags.building = 'C'", want: devicesWhere(strIs("C", building...))},
		{name: "case-insensitive property names", query: "SELECT * FROM devices WHERE Tags.Building = 'D'", want: devicesWhere(strIs("D", building...))},
		{name: "TOP", query: "SELECT TOP 5 * FROM devices WHERE status = 'enabled'", want: func(f *fleet) []map[string]any { return filter(f.devices, strIs("enabled", "status"))[:5] }},
		{name: "TOP 0", query: "SELECT TOP 0 * FROM devices", want: func(*fleet) []map[string]any { return []map[string]any{} }},
		{name: "projection with alias", query: "SELECT deviceId, tags.building AS b, properties.reported.fw FROM devices WHERE tags.floor = 1", want: func(f *fleet) []map[string]any {
			var out []map[string]any
			for _, d := range filter(f.devices, numIs(func(n float64) bool { return n == 1 }, floor...)) {
				row := map[string]any{"deviceId": d["deviceId"]}
				optional(row, "b", d, building...)
				optional(row, "fw", d, fw...)
				out = append(out, row)
			}
			return out
		}},
		{name: "projection keeps the document's spelling", query: "SELECT DeviceId, Tags FROM devices WHERE DEVICEID = 'dev-005'", want: func(f *fleet) []map[string]any {
			return []map[string]any{{"deviceId": "dev-005", "tags": f.devices[5]["tags"]}}
		}},
		{name: "deep projection", query: "SELECT properties.reported.nested.sensor.type AS t, properties.reported.ips[1] FROM devices WHERE deviceId = 'dev-008'", want: func(*fleet) []map[string]any {
			return []map[string]any{{"t": "temp", "$1": "10.0.0.2"}}
		}},
		{name: "COUNT with alias", query: "SELECT COUNT() AS n FROM devices", want: func(f *fleet) []map[string]any { return []map[string]any{{"n": float64(len(f.devices))}} }},
		{name: "COUNT default name", query: "SELECT COUNT() FROM devices WHERE status = 'disabled'", want: func(f *fleet) []map[string]any {
			return []map[string]any{{"$1": float64(len(filter(f.devices, strIs("disabled", "status"))))}}
		}},
		{name: "COUNT of nothing", query: "SELECT COUNT() AS n FROM devices WHERE deviceId = 'nope'", want: func(*fleet) []map[string]any { return []map[string]any{{"n": float64(0)}} }},
		{name: "GROUP BY one path with typed values", query: "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw", unordered: true, want: func(f *fleet) []map[string]any {
			return countBy(f.devices, func(d map[string]any) map[string]any { r := map[string]any{}; optional(r, "fw", d, fw...); return r })
		}},
		{name: "GROUP BY two paths", query: "SELECT tags.building, connectionState, COUNT() AS n FROM devices GROUP BY tags.building, connectionState", unordered: true, want: func(f *fleet) []map[string]any {
			return countBy(f.devices, func(d map[string]any) map[string]any {
				r := map[string]any{"connectionState": d["connectionState"]}
				optional(r, "building", d, building...)
				return r
			})
		}},
		{name: "GROUP BY bool with a missing group", query: "SELECT capabilities.iotEdge AS edge, COUNT() AS n FROM devices GROUP BY capabilities.iotEdge", unordered: true, want: func(f *fleet) []map[string]any {
			return countBy(f.devices, func(d map[string]any) map[string]any {
				r := map[string]any{}
				optional(r, "edge", d, "capabilities", "iotEdge")
				return r
			})
		}},
		{name: "TOP over groups", query: "SELECT TOP 2 tags.building AS b, COUNT() AS n FROM devices WHERE IS_DEFINED(tags.building) GROUP BY tags.building", want: func(f *fleet) []map[string]any {
			var out []map[string]any
			for _, b := range []string{"A", "B"} {
				out = append(out, map[string]any{"b": b, "n": float64(len(filter(f.devices, strIs(b, building...))))})
			}
			return out
		}},
		{name: "SUM AVG MIN MAX", query: "SELECT tags.building AS b, SUM(properties.reported.battery) AS total, AVG(properties.reported.battery) AS mean, MIN(properties.reported.battery) AS lo, MAX(properties.reported.battery) AS hi FROM devices WHERE IS_DEFINED(tags.building) GROUP BY tags.building", unordered: true, want: func(f *fleet) []map[string]any {
			var out []map[string]any
			for _, b := range []string{"A", "B", "C", "D"} {
				docs := filter(f.devices, strIs(b, building...))
				sum, lo, hi := 0.0, 1e9, -1e9
				for _, d := range docs {
					n, _ := getNum(d, battery...)
					sum += n
					lo, hi = min(lo, n), max(hi, n)
				}
				out = append(out, map[string]any{"b": b, "total": sum, "mean": sum / float64(len(docs)), "lo": lo, "hi": hi})
			}
			return out
		}},
	}
}

func moduleCases() []queryCase {
	modulesWhere := func(pred func(map[string]any) bool) func(*fleet) []map[string]any {
		return func(f *fleet) []map[string]any { return filter(f.modules, pred) }
	}
	return []queryCase{
		{name: "all modules", query: "SELECT * FROM devices.modules", want: modulesWhere(func(map[string]any) bool { return true })},
		{name: "moduleId", query: "SELECT * FROM devices.modules WHERE moduleId = 'sensor'", want: modulesWhere(strIs("sensor", "moduleId"))},
		{name: "qualified moduleId", query: "SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'edgeAgent'", want: modulesWhere(strIs("edgeAgent", "moduleId"))},
		{name: "device-qualified deviceId", query: "SELECT * FROM devices.modules WHERE devices.deviceId = 'dev-004'", want: modulesWhere(strIs("dev-004", "deviceId"))},
		{name: "projection", query: "SELECT deviceId, moduleId FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['dev-000', 'dev-002', 'dev-004', 'dev-008']", want: func(f *fleet) []map[string]any {
			var out []map[string]any
			for _, m := range f.modules {
				id := m["deviceId"].(string)
				if strIs("scanning", "properties", "reported", "status")(m) && (id == "dev-000" || id == "dev-002" || id == "dev-004" || id == "dev-008") {
					out = append(out, map[string]any{"deviceId": id, "moduleId": m["moduleId"]})
				}
			}
			return out
		}},
		{name: "COUNT", query: "SELECT COUNT() AS n FROM devices.modules WHERE connectionState = 'Connected'", want: func(f *fleet) []map[string]any {
			return []map[string]any{{"n": float64(len(filter(f.modules, strIs("Connected", "connectionState"))))}}
		}},
	}
}

func TestQueryTable(t *testing.T) {
	t.Parallel()
	f := newFleet(fleetSize)
	devices := newMemStore(deviceKey, f.devices)
	modules := newMemStore(moduleKey, f.modules)
	e := NewEngine(nil)
	cases := append(queryCases(), moduleCases()...)
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tc.query)
			require.NoError(t, err)
			store := devices
			if q.Source() == Modules {
				store = modules
			}
			want := roundTrip(t, tc.want(f))
			for _, size := range []int{7, 0} {
				got := decodeRows(t, runAll(t, e, q, store, size))
				if tc.unordered {
					assert.Equal(t, sortRows(t, toRows(want)), sortRows(t, got), "page size %d", size)
				} else {
					assert.Equal(t, want, roundTrip(t, got), "page size %d", size)
				}
			}
			// The unpaged path agrees with the paged one.
			docs := f.devices
			if q.Source() == Modules {
				docs = f.modules
			}
			rows, err := q.Rows(docs)
			require.NoError(t, err)
			if tc.unordered {
				assert.Equal(t, sortRows(t, toRows(want)), sortRows(t, toRows(roundTrip(t, rows))))
			} else {
				assert.Equal(t, want, roundTrip(t, nonNil(rows)))
			}
		})
	}
}

func toRows(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

func nonNil(rows []map[string]any) []map[string]any {
	if rows == nil {
		return []map[string]any{}
	}
	return rows
}

// TestFleetCoverage guards the fleet itself: each case must be able to fail,
// so most non-trivial filters must neither match everything nor nothing.
func TestFleetCoverage(t *testing.T) {
	t.Parallel()
	f := newFleet(fleetSize)
	nonTrivial := 0
	for _, tc := range queryCases() {
		n := len(tc.want(f))
		if n > 0 && n < len(f.devices) {
			nonTrivial++
		}
	}
	assert.GreaterOrEqual(t, nonTrivial, 40)
}

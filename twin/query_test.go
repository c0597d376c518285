package twin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// fleetDevice describes one device of the test fleet; expected query
// results are computed from these descriptions with plain Go, never by the
// query engine.
type fleetDevice struct {
	id          string
	building    string // "" when the device has no tags
	floor       any    // float64, string or nil
	region      string
	disabled    bool
	interval    any // float64 or nil
	fw          string
	modules     []string
	hasDesired  bool
	hasLocation bool
}

const fleetSize = 300

func buildFleet() []fleetDevice {
	buildings := []string{"43", "44", "45"}
	regions := []string{"US", "eu", "Asia"}
	fleet := make([]fleetDevice, fleetSize)
	for i := range fleet {
		d := fleetDevice{id: fmt.Sprintf("dev-%03d", i), disabled: i%11 == 0}
		if i%10 != 0 {
			d.hasLocation = true
			d.building = buildings[i%3]
			d.region = regions[i%7%3]
			if i%13 == 0 {
				d.floor = fmt.Sprint(i % 5)
			} else {
				d.floor = float64(i % 5)
			}
		}
		if i%2 == 0 {
			d.hasDesired = true
			d.interval = float64((i % 4) * 10)
			d.fw = fmt.Sprintf("1.%d", i%3)
		}
		if i%6 == 0 {
			d.modules = []string{"filter", "sensor"}
		}
		fleet[i] = d
	}
	return fleet
}

func fleetSeeds(fleet []fleetDevice) []emulator.DeviceSeed {
	seeds := make([]emulator.DeviceSeed, len(fleet))
	for i, d := range fleet {
		s := emulator.DeviceSeed{DeviceID: d.id, Disabled: d.disabled, Modules: d.modules}
		if d.hasLocation {
			s.Tags = map[string]any{"building": d.building, "floor": d.floor, "region": d.region}
		}
		if d.hasDesired {
			s.Desired = map[string]any{"interval": d.interval, "fw": d.fw}
		}
		seeds[i] = s
	}
	return seeds
}

func numFloor(d fleetDevice) (float64, bool) {
	f, ok := d.floor.(float64)
	return f, ok
}

func ids(fleet []fleetDevice, keep func(d fleetDevice) bool) []string {
	var out []string
	for _, d := range fleet {
		if keep(d) {
			out = append(out, d.id)
		}
	}
	sort.Strings(out)
	return out
}

func TestQueryTable(t *testing.T) {
	t.Parallel()
	fleet := buildFleet()
	_, c := newHub(t, &emulator.Options{Devices: fleetSeeds(fleet)})
	ctx := context.Background()

	floorIs := func(p func(float64) bool) func(fleetDevice) bool {
		return func(d fleetDevice) bool { f, ok := numFloor(d); return ok && p(f) }
	}
	all := func(fleetDevice) bool { return true }
	none := func(fleetDevice) bool { return false }
	cases := []struct {
		query string
		want  func(d fleetDevice) bool
	}{
		{"SELECT * FROM devices", all},
		{"select * from DEVICES", all},
		{"SELECT * FROM devices WHERE tags.building = '43'", func(d fleetDevice) bool { return d.building == "43" }},
		{"SELECT * FROM devices WHERE tags.building != '43'", func(d fleetDevice) bool { return d.hasLocation && d.building != "43" }},
		{"SELECT * FROM devices WHERE tags.building <> '44'", func(d fleetDevice) bool { return d.hasLocation && d.building != "44" }},
		{"SELECT * FROM devices WHERE tags.floor = 2", floorIs(func(f float64) bool { return f == 2 })},
		{"SELECT * FROM devices WHERE tags.floor > 2", floorIs(func(f float64) bool { return f > 2 })},
		{"SELECT * FROM devices WHERE tags.floor >= 2", floorIs(func(f float64) bool { return f >= 2 })},
		{"SELECT * FROM devices WHERE tags.floor < 2", floorIs(func(f float64) bool { return f < 2 })},
		{"SELECT * FROM devices WHERE tags.floor <= 2", floorIs(func(f float64) bool { return f <= 2 })},
		{"SELECT * FROM devices WHERE tags.floor != 3", floorIs(func(f float64) bool { return f != 3 })},
		{"SELECT * FROM devices WHERE tags.floor = '2'", func(d fleetDevice) bool { return d.floor == "2" }},
		{"SELECT * FROM devices WHERE tags.building = 43", none},
		{"SELECT * FROM devices WHERE tags.building = '43' AND tags.floor = 1", func(d fleetDevice) bool { f, ok := numFloor(d); return d.building == "43" && ok && f == 1 }},
		{"SELECT * FROM devices WHERE tags.building = '43' OR tags.floor = 1", func(d fleetDevice) bool { f, ok := numFloor(d); return d.building == "43" || ok && f == 1 }},
		{"SELECT * FROM devices WHERE NOT (tags.building = '43')", func(d fleetDevice) bool { return d.hasLocation && d.building != "43" }},
		{"SELECT * FROM devices WHERE NOT (tags.floor > 2 OR tags.floor < 1)", floorIs(func(f float64) bool { return f >= 1 && f <= 2 })},
		{"SELECT * FROM devices WHERE (tags.building = '43' OR tags.building = '44') AND tags.floor < 3", func(d fleetDevice) bool {
			f, ok := numFloor(d)
			return (d.building == "43" || d.building == "44") && ok && f < 3
		}},
		{"SELECT * FROM devices WHERE tags.building IN ['43', '45']", func(d fleetDevice) bool { return d.building == "43" || d.building == "45" }},
		{"SELECT * FROM devices WHERE tags.building NIN ['43', '45']", func(d fleetDevice) bool { return d.hasLocation && d.building == "44" }},
		{"SELECT * FROM devices WHERE IS_DEFINED(tags.building)", func(d fleetDevice) bool { return d.hasLocation }},
		{"SELECT * FROM devices WHERE NOT IS_DEFINED(tags.building)", func(d fleetDevice) bool { return !d.hasLocation }},
		{"SELECT * FROM devices WHERE IS_NUMBER(tags.floor)", func(d fleetDevice) bool { _, ok := numFloor(d); return ok }},
		{"SELECT * FROM devices WHERE IS_STRING(tags.floor)", func(d fleetDevice) bool { _, ok := d.floor.(string); return ok }},
		{"SELECT * FROM devices WHERE IS_NULL(tags.building)", none},
		{"SELECT * FROM devices WHERE IS_BOOL(tags.building)", none},
		{"SELECT * FROM devices WHERE IS_OBJECT(properties.desired)", all},
		{"SELECT * FROM devices WHERE STARTSWITH(deviceId, 'dev-01')", func(d fleetDevice) bool { return strings.HasPrefix(d.id, "dev-01") }},
		{"SELECT * FROM devices WHERE ENDSWITH(deviceId, '7')", func(d fleetDevice) bool { return strings.HasSuffix(d.id, "7") }},
		{"SELECT * FROM devices WHERE CONTAINS(tags.region, 's')", func(d fleetDevice) bool { return strings.Contains(d.region, "s") }},
		{"SELECT * FROM devices WHERE LOWER(tags.region) = 'us'", func(d fleetDevice) bool { return d.region == "US" }},
		{"SELECT * FROM devices WHERE UPPER(tags.region) = 'ASIA'", func(d fleetDevice) bool { return d.region == "Asia" }},
		{"SELECT * FROM devices WHERE status = 'disabled'", func(d fleetDevice) bool { return d.disabled }},
		{"SELECT * FROM devices WHERE status = 'enabled' AND tags.building = '45'", func(d fleetDevice) bool { return !d.disabled && d.building == "45" }},
		{"SELECT * FROM devices WHERE properties.desired.interval = 20", func(d fleetDevice) bool { return d.interval == 20.0 }},
		{"SELECT * FROM devices WHERE properties.desired.interval >= 10 AND properties.desired.fw = '1.2'", func(d fleetDevice) bool {
			iv, ok := d.interval.(float64)
			return ok && iv >= 10 && d.fw == "1.2"
		}},
		{"SELECT * FROM devices WHERE IS_DEFINED(properties.desired.fw)", func(d fleetDevice) bool { return d.hasDesired }},
		{"SELECT * FROM devices WHERE connectionState = 'Disconnected'", all},
		{"SELECT * FROM devices WHERE deviceId = 'dev-042'", func(d fleetDevice) bool { return d.id == "dev-042" }},
		{"SELECT * FROM devices WHERE deviceId IN ['dev-001', 'dev-002', 'nope']", func(d fleetDevice) bool { return d.id == "dev-001" || d.id == "dev-002" }},
		{"SELECT * FROM devices WHERE devices.deviceId = 'dev-100'", func(d fleetDevice) bool { return d.id == "dev-100" }},
		{`SELECT * FROM devices WHERE tags.region = "eu" AND NOT (status = 'disabled')`, func(d fleetDevice) bool { return d.region == "eu" && !d.disabled }},
	}
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			var got []string
			for tw, err := range c.Query(ctx, tc.query, &twin.QueryOptions{PageSize: 64}) {
				require.NoError(t, err)
				got = append(got, tw.DeviceID)
			}
			sort.Strings(got)
			assert.Equal(t, ids(fleet, tc.want), got)
		})
	}
}

func TestQueryModules(t *testing.T) {
	t.Parallel()
	fleet := buildFleet()
	_, c := newHub(t, &emulator.Options{Devices: fleetSeeds(fleet)})
	ctx := context.Background()
	var want []string
	for _, d := range fleet {
		for _, m := range d.modules {
			want = append(want, d.id+"/"+m)
		}
	}
	cases := []struct {
		query string
		keep  func(key string) bool
	}{
		{"SELECT * FROM devices.modules", func(string) bool { return true }},
		{"SELECT * FROM devices.modules WHERE moduleId = 'filter'", func(k string) bool { return strings.HasSuffix(k, "/filter") }},
		{"SELECT * FROM devices.modules WHERE deviceId = 'dev-006'", func(k string) bool { return strings.HasPrefix(k, "dev-006/") }},
		{"SELECT * FROM devices.modules WHERE devices.modules.moduleId != 'filter'", func(k string) bool { return strings.HasSuffix(k, "/sensor") }},
	}
	for _, tc := range cases {
		var got []string
		for tw, err := range c.Query(ctx, tc.query, &twin.QueryOptions{PageSize: 7}) {
			require.NoError(t, err)
			require.NotEmpty(t, tw.ModuleID)
			got = append(got, tw.DeviceID+"/"+tw.ModuleID)
		}
		var exp []string
		for _, k := range want {
			if tc.keep(k) {
				exp = append(exp, k)
			}
		}
		sort.Strings(got)
		sort.Strings(exp)
		assert.Equal(t, exp, got, tc.query)
	}
}

func TestQueryProjectionsAndAggregates(t *testing.T) {
	t.Parallel()
	fleet := buildFleet()
	_, c := newHub(t, &emulator.Options{Devices: fleetSeeds(fleet)})
	ctx := context.Background()

	type row struct {
		DeviceID string `json:"deviceId"`
		Building string `json:"b"`
	}
	var rows []row
	for r, err := range twin.QueryAs[row](ctx, c, "SELECT deviceId, tags.building AS b FROM devices WHERE tags.floor = 1", nil) {
		require.NoError(t, err)
		rows = append(rows, r)
	}
	var wantRows []row
	for _, d := range fleet {
		if f, ok := numFloor(d); ok && f == 1 {
			wantRows = append(wantRows, row{d.id, d.building})
		}
	}
	assert.ElementsMatch(t, wantRows, rows)

	page, err := c.QueryPage(ctx, "SELECT deviceId FROM devices", &twin.QueryOptions{PageSize: 3})
	require.NoError(t, err)
	assert.Equal(t, twin.ItemTypeRaw, page.ItemType)
	assert.Len(t, page.Items, 3)
	assert.NotEmpty(t, page.ContinuationToken)
	page, err = c.QueryPage(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 3})
	require.NoError(t, err)
	assert.Equal(t, twin.ItemTypeTwin, page.ItemType)

	type count struct {
		N int `json:"n"`
	}
	for n, err := range twin.QueryAs[count](ctx, c, "SELECT COUNT() AS n FROM devices", nil) {
		require.NoError(t, err)
		assert.Equal(t, fleetSize, n.N)
	}
	for n, err := range twin.QueryAs[count](ctx, c, "SELECT COUNT() AS n FROM devices WHERE status = 'disabled'", nil) {
		require.NoError(t, err)
		assert.Equal(t, len(ids(fleet, func(d fleetDevice) bool { return d.disabled })), n.N)
	}

	type group struct {
		Building *string `json:"building"`
		N        int     `json:"n"`
	}
	got := map[string]int{}
	for g, err := range twin.QueryAs[group](ctx, c, "SELECT tags.building AS building, COUNT() AS n FROM devices GROUP BY tags.building", &twin.QueryOptions{PageSize: 2}) {
		require.NoError(t, err)
		key := "<none>"
		if g.Building != nil {
			key = *g.Building
		}
		got[key] = g.N
	}
	want := map[string]int{}
	for _, d := range fleet {
		key := d.building
		if !d.hasLocation {
			key = "<none>"
		}
		want[key]++
	}
	assert.Equal(t, want, got)

	type group2 struct {
		Building string `json:"building"`
		Region   string `json:"region"`
		N        int    `json:"n"`
	}
	got2 := map[string]int{}
	for g, err := range twin.QueryAs[group2](ctx, c, "SELECT tags.building AS building, tags.region AS region, COUNT() AS n FROM devices WHERE IS_DEFINED(tags.building) GROUP BY tags.building, tags.region", nil) {
		require.NoError(t, err)
		got2[g.Building+"/"+g.Region] = g.N
	}
	want2 := map[string]int{}
	for _, d := range fleet {
		if d.hasLocation {
			want2[d.building+"/"+d.region]++
		}
	}
	assert.Equal(t, want2, got2)

	var top []string
	for tw, err := range c.Query(ctx, "SELECT TOP 5 * FROM devices WHERE tags.building = '44'", &twin.QueryOptions{PageSize: 2}) {
		require.NoError(t, err)
		assert.Equal(t, "44", tw.Tags["building"])
		top = append(top, tw.DeviceID)
	}
	assert.Len(t, top, 5, "TOP holds across pages")
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, &emulator.Options{Devices: fleetSeeds(buildFleet()[:10])})
	ctx := context.Background()

	_, err := c.QueryPage(ctx, "SELECT * FROM devices WHERE", nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	assert.Contains(t, err.Error(), "27", "the message gives the position")

	for _, err := range c.Query(ctx, "SELEC * FROM devices", nil) {
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, "the iterator yields the error and stops")
	}

	page, err := c.QueryPage(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 2})
	require.NoError(t, err)
	tampered := page.ContinuationToken[:len(page.ContinuationToken)-2] + "xx"
	_, err = c.QueryPage(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 2, ContinuationToken: tampered})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	_, err = c.QueryPage(ctx, "SELECT deviceId FROM devices", &twin.QueryOptions{PageSize: 2, ContinuationToken: page.ContinuationToken})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid, "a token is bound to its query")

	before := e.RequestCount("", "")
	_, err = c.QueryPage(ctx, " ", nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	_, err = c.QueryPage(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 1001})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	assert.Equal(t, before, e.RequestCount("", ""))

	cs, err := e.PolicyConnectionString("device")
	require.NoError(t, err)
	dc, err := twin.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = dc.QueryPage(ctx, "SELECT * FROM devices", nil)
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
}

func manySeeds(prefix string, n int) []emulator.DeviceSeed {
	seeds := make([]emulator.DeviceSeed, n)
	for i := range seeds {
		seeds[i] = emulator.DeviceSeed{DeviceID: fmt.Sprintf("%s-%05d", prefix, i), Tags: map[string]any{"n": i}}
	}
	return seeds
}

func TestQueryPagingIsStableAcrossPageSizes(t *testing.T) {
	t.Parallel()
	const n = 10000
	_, c := newHub(t, &emulator.Options{Devices: manySeeds("p", n)})
	ctx := context.Background()
	var first []string
	for _, size := range []int{1000, 100, 7, 1} {
		seen := make(map[string]int, n)
		var order []string
		for tw, err := range c.Query(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: size}) {
			require.NoError(t, err)
			seen[tw.DeviceID]++
			order = append(order, tw.DeviceID)
		}
		require.Len(t, seen, n, "page size %d", size)
		require.Len(t, order, n, "page size %d: no duplicates", size)
		sort.Strings(order)
		if first == nil {
			first = order
		} else {
			require.Equal(t, first, order, "page size %d yields the same set", size)
		}
	}
}

func TestQueryScanWhileRegistryChanges(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, &emulator.Options{Devices: manySeeds("keep", 2000)})
	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := context.Background()
	// Devices that come and go around the stayers, before and after the cursor.
	churn := 0
	seen := map[string]int{}
	for tw, err := range c.Query(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 50}) {
		require.NoError(t, err)
		seen[tw.DeviceID]++
		if len(seen)%25 == 0 {
			for _, prefix := range []string{"aaa", "keep-0", "zzz"} {
				id := fmt.Sprintf("%s-churn-%d", prefix, churn)
				_, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: id})
				require.NoError(t, err)
				if churn%2 == 0 {
					require.NoError(t, reg.DeleteDevice(ctx, id, ""))
				}
			}
			churn++
		}
	}
	for i := range 2000 {
		id := fmt.Sprintf("keep-%05d", i)
		assert.Equal(t, 1, seen[id], "%s stayed for the whole scan and is returned exactly once", id)
	}
	for id, k := range seen {
		assert.Equal(t, 1, k, "%s returned %d times", id, k)
	}
	assert.Positive(t, churn)
}

func TestQueryThrottledPagesKeepTheirPosition(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, &emulator.Options{Devices: manySeeds("t", 500)})
	ctx := context.Background()
	var got []string
	for tw, err := range c.Query(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: 100}) {
		require.NoError(t, err)
		got = append(got, tw.DeviceID)
		if len(got) == 150 {
			e.InjectFault(emulator.Fault{Method: "POST", Path: "/devices/query", Count: 2, Code: iothub.CodeThrottlingException})
		}
	}
	assert.Len(t, got, 500)
	assert.True(t, slices.IsSorted(got))
	assert.Len(t, slices.Compact(got), 500, "no page repeated")
	assert.Equal(t, 5+2, e.RequestCount("POST", "/devices/query"), "5 pages and 2 throttled attempts")
}

func TestQueryPageResumesElsewhere(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, &emulator.Options{Devices: manySeeds("r", 30)})
	ctx := context.Background()
	page, err := c.QueryPage(ctx, "SELECT deviceId FROM devices", &twin.QueryOptions{PageSize: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 10)

	// Another client (another process, say) carries on from the token.
	other, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	var rest []json.RawMessage
	for item, err := range other.QueryRaw(ctx, "SELECT deviceId FROM devices", &twin.QueryOptions{PageSize: 10, ContinuationToken: page.ContinuationToken}) {
		require.NoError(t, err)
		rest = append(rest, item)
	}
	assert.Len(t, rest, 20)
	assert.JSONEq(t, `{"deviceId":"r-00010"}`, string(rest[0]))
}

func TestQueryStopsWhenTheLoopBreaks(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, &emulator.Options{Devices: manySeeds("b", 50)})
	n := 0
	for _, err := range c.Query(context.Background(), "SELECT * FROM devices", &twin.QueryOptions{PageSize: 10}) {
		require.NoError(t, err)
		if n++; n == 15 {
			break
		}
	}
	assert.Equal(t, 2, e.RequestCount("POST", "/devices/query"), "no page is fetched past the break")
}

// BenchmarkQueryAll scans 10,000 twins at page sizes 100 and 1000.
func BenchmarkQueryAll(b *testing.B) {
	const n = 10000
	_, c := newHub(b, &emulator.Options{Devices: manySeeds("q", n)})
	ctx := context.Background()
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("page=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			scans := 0
			for b.Loop() {
				count := 0
				for _, err := range c.Query(ctx, "SELECT * FROM devices", &twin.QueryOptions{PageSize: size}) {
					if err != nil {
						b.Fatal(err)
					}
					count++
				}
				if count != n {
					b.Fatalf("got %d twins", count)
				}
				scans++
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(n*scans)/elapsed.Seconds(), "twins/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n*scans), "allocs/twin")
		})
	}
}

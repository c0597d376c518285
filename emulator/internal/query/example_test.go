package query_test

import (
	"fmt"
	"sort"

	"github.com/iotkit-go/iothub/emulator/internal/query"
)

// sliceStore is the smallest possible Store: documents sorted by deviceId.
type sliceStore []map[string]any

func (s sliceStore) Scan(after string, fn func(string, map[string]any) bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i]["deviceId"].(string) > after })
	for ; i < len(s); i++ {
		if !fn(s[i]["deviceId"].(string), s[i]) {
			return
		}
	}
}

func ExampleEngine_Page() {
	store := sliceStore{
		{"deviceId": "d1", "tags": map[string]any{"region": "eu"}, "properties": map[string]any{"reported": map[string]any{"fw": "1.0"}}},
		{"deviceId": "d2", "tags": map[string]any{"region": "us"}, "properties": map[string]any{"reported": map[string]any{"fw": "1.1"}}},
		{"deviceId": "d3", "tags": map[string]any{"region": "eu"}, "properties": map[string]any{"reported": map[string]any{"fw": 2}}},
	}
	q, err := query.Parse("SELECT deviceId, properties.reported.fw AS fw FROM devices WHERE tags.region = 'eu'")
	if err != nil {
		panic(err)
	}
	engine := query.NewEngine(nil)
	token := ""
	for {
		page, err := engine.Page(q, store, token, 1)
		if err != nil {
			panic(err)
		}
		for _, item := range page.Items {
			fmt.Println(string(item))
		}
		if token = page.Continuation; token == "" {
			break
		}
	}
	// Output:
	// {"deviceId":"d1","fw":"1.0"}
	// {"deviceId":"d3","fw":2}
}

func ExampleParse_groupBy() {
	store := sliceStore{
		{"deviceId": "d1", "properties": map[string]any{"reported": map[string]any{"fw": "1.0"}}},
		{"deviceId": "d2", "properties": map[string]any{"reported": map[string]any{"fw": "1.0"}}},
		{"deviceId": "d3", "properties": map[string]any{"reported": map[string]any{"fw": "2.0"}}},
		{"deviceId": "d4"},
	}
	q, _ := query.Parse("SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw")
	page, _ := query.NewEngine(nil).Page(q, store, "", 100)
	for _, item := range page.Items {
		fmt.Println(string(item))
	}
	// Output:
	// {"n":1}
	// {"fw":"1.0","n":2}
	// {"fw":"2.0","n":1}
}

func ExampleSyntaxError() {
	_, err := query.Parse("SELECT * FROM devices WHERE status = 'enabled' AND")
	fmt.Println(err)
	// Output:
	// query: syntax error at line 1, column 51 (offset 50): expected an expression, found end of query
}

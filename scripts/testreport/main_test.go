package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReport(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: IOTHUB_AZURITE_BLOB_ENDPOINT is not set\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"output","Package":"q","Output":"ok  \tq\t0.1s\n"}`,
		`{"Action":"pass","Package":"q"}`,
	}, "\n")
	var out strings.Builder
	code := report(strings.NewReader(in), &out)
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "b_test.go:3: boom")
	assert.Contains(t, out.String(), "ok  \tq")
	assert.Contains(t, out.String(), "1 tests skipped:\n  p TestA: IOTHUB_AZURITE_BLOB_ENDPOINT is not set\n")

	out.Reset()
	assert.Equal(t, 0, report(strings.NewReader(`{"Action":"pass","Package":"q","Test":"TestC"}`), &out))
	assert.Contains(t, out.String(), "no test skipped")
}

package query

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCondition(t *testing.T) {
	t.Parallel()
	f := newFleet(fleetSize)
	c, err := ParseCondition("deviceId IN ['dev-001', 'dev-004'] OR (tags.building = 'C' AND devices.tags.floor = 2)")
	require.NoError(t, err)
	assert.Equal(t, "deviceId IN ['dev-001', 'dev-004'] OR (tags.building = 'C' AND devices.tags.floor = 2)", c.Text())
	var got, want []string
	for _, d := range f.devices {
		if c.Matches(d) {
			got = append(got, d["deviceId"].(string))
		}
		id := d["deviceId"].(string)
		b, _ := getStr(d, building...)
		n, _ := getNum(d, floor...)
		if id == "dev-001" || id == "dev-004" || (b == "C" && n == 2) {
			want = append(want, id)
		}
	}
	assert.Equal(t, want, got)

	for _, bad := range []struct {
		text string
		pos  int
	}{{"", 0}, {"a = ", 4}, {"a = 1 b", 6}, {"SELECT * FROM devices", 0}, {strings.Repeat("a", 9000), 0}} {
		_, err := ParseCondition(bad.text)
		var se *SyntaxError
		require.ErrorAs(t, err, &se, bad.text)
		assert.Equal(t, bad.pos, se.Pos, bad.text)
	}
}

func TestParseHugeInputFast(t *testing.T) {
	t.Parallel()
	_, err := Parse(strings.Repeat("x", 10<<20))
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, MaxQueryLength, se.Pos)
}

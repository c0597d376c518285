package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyntaxErrors(t *testing.T) {
	t.Parallel()
	deep := "SELECT * FROM devices WHERE " + strings.Repeat("(", 100) + "x = 1" + strings.Repeat(")", 100)
	long := "SELECT * FROM devices WHERE x = '" + strings.Repeat("a", 9000) + "'"
	cases := []struct {
		query     string
		pos       int
		line, col int // 0: not checked
		msg       string
	}{
		{query: "", pos: 0, line: 1, col: 1, msg: "expected SELECT"},
		{query: "SELEC * FROM devices", pos: 0, msg: "expected SELECT"},
		{query: "SELECT * FRM devices", pos: 9, msg: "expected FROM"},
		{query: "SELECT * FROM device", pos: 14, msg: "expected devices"},
		{query: "SELECT * FROM devices.jobs", pos: 22, msg: "devices.jobs is not supported"},
		{query: "SELECT * FROM devices.x", pos: 22, msg: "expected modules"},
		{query: "SELECT * FROM devices WHERE", pos: 27, msg: "expected an expression"},
		{query: "SELECT * FROM devices WHERE status = ", pos: 37, msg: "expected an expression"},
		{query: "SELECT * FROM devices WHERE status = 'abc", pos: 37, msg: "unterminated string"},
		{query: "SELECT * FROM devices WHERE (status = 'a'", pos: 41, msg: "expected ')'"},
		{query: "SELECT * FROM devices WHERE status == 'a'", pos: 36, msg: "expected an expression, found '='"},
		{query: "SELECT * FROM devices WHERE FOO(status)", pos: 28, msg: "unknown function FOO"},
		{query: "SELECT * FROM devices WHERE STARTSWITH(deviceId)", pos: 28, msg: "STARTSWITH takes 2 to 3 arguments, got 1"},
		{query: "SELECT * FROM devices WHERE LOWER(a, b) = 'x'", pos: 28, msg: "LOWER takes 1 argument, got 2"},
		{query: "SELECT * FROM devices WHERE INDEX_OF(a) = 1", pos: 28, msg: "INDEX_OF takes 2 arguments, got 1"},
		{query: "SELECT * FROM devices WHERE CONCAT(a) = 1", pos: 28, msg: "CONCAT takes at least 2 arguments, got 1"},
		{query: "SELECT * FROM devices WHERE IS_DEFINED()", pos: 28, msg: "takes 1 argument"},
		{query: "SELECT * FROM devices WHERE status ! 'a'", pos: 35, msg: "unexpected '!'"},
		{query: "SELECT * FROM devices WHERE status IN 'a'", pos: 38, msg: "expected '['"},
		{query: "SELECT * FROM devices WHERE status IN [deviceId]", pos: 39, msg: "expected a constant"},
		{query: "SELECT * FROM devices WHERE status IN ['a' 'b']", pos: 43, msg: "expected ','"},
		{query: "SELECT TOP -1 * FROM devices", pos: 11, msg: "TOP needs a non-negative integer"},
		{query: "SELECT TOP 1.5 * FROM devices", pos: 11, msg: "TOP needs a non-negative integer"},
		{query: "SELECT * FROM devices GROUP BY status", pos: 7, msg: "SELECT * cannot be combined with GROUP BY"},
		{query: "SELECT * FROM devices GROUP status", pos: 28, msg: "expected BY"},
		{query: "SELECT tags.x, COUNT() FROM devices", pos: 7, msg: "must be an aggregate or appear in GROUP BY"},
		{query: "SELECT tags.x, COUNT() FROM devices GROUP BY tags.y", pos: 7, msg: "must be an aggregate or appear in GROUP BY"},
		{query: "SELECT status AS s, COUNT() AS s FROM devices GROUP BY status", pos: 20, msg: "duplicate output name"},
		{query: "SELECT COUNT() FROM devices.modules GROUP BY deviceId", pos: 36, msg: "GROUP BY is supported only when querying devices"},
		{query: "SELECT * FROM devices WHERE COUNT() = 1", pos: 28, msg: "aggregate COUNT is allowed only in SELECT"},
		{query: "SELECT * FROM devices WHERE tags.'x' = 1", pos: 33, msg: "expected a property name after '.'"},
		{query: "SELECT * FROM devices WHERE tags[x] = 1", pos: 33, msg: "expected a quoted property name or an array index"},
		{query: "SELECT * FROM devices WHERE tags['x' = 1", pos: 37, msg: "expected ']'"},
		{query: "SELECT *\nFROM devices\nWHERE x = @", pos: 32, line: 3, col: 11, msg: "unexpected character '@'"},
		{query: "SELECT * FROM devices WHERE x = 'a\\q'", pos: 34, msg: "unknown escape sequence"},
		{query: "SELECT * FROM devices WHERE x = '\\u12'", pos: 33, msg: `\u escape needs 4 hexadecimal digits`},
		{query: "SELECT * FROM devices WHERE x = 0x", pos: 32, msg: "hexadecimal literal needs digits"},
		{query: "SELECT * FROM devices WHERE x = 1e", pos: 32, msg: "malformed number exponent"},
		{query: "SELECT * FROM devices WHERE x = 12abc", pos: 34, msg: "invalid character in number"},
		{query: "SELECT * FROM devices extra", pos: 22, msg: "unexpected 'extra'"},
		{query: "SELECT * FROM devices WHERE NOT", pos: 31, msg: "expected an expression"},
		{query: "SELECT deviceId AS FROM devices", pos: 19, msg: "expected an alias after AS"},
		{query: "SELECT group FROM devices", pos: 7, msg: "unexpected keyword GROUP"},
		{query: "SELECT UPPER(deviceId) FROM devices", pos: 7, msg: "UPPER cannot be projected"},
		{query: "SELECT * FROM devices WHERE \xff = 1", pos: 28, msg: "invalid UTF-8"},
		{query: "SELECT * FROM devices WHERE x = 1 AND", pos: 37, msg: "expected an expression"},
		{query: "SELECT *, deviceId FROM devices", pos: 8, msg: "expected FROM"},
		{query: "SELECT SUM() FROM devices", pos: 11, msg: "expected a property path"},
		{query: deep, pos: 28 + MaxDepth, msg: "nested too deeply"},
		{query: long, pos: MaxQueryLength, msg: "the limit is 8192"},
		{query: "SELECT * FROM devices WHERE " + strings.Repeat("NOT ", 70) + "true", pos: 28 + 4*MaxDepth, msg: "nested too deeply"},
		{query: "SELECT * FROM devices WHERE x = " + strings.Repeat("-", 70) + "1", pos: 32 + MaxDepth, msg: "nested too deeply"},
	}
	for _, tc := range cases {
		name := tc.query
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tc.query)
			require.Error(t, err)
			assert.Nil(t, q)
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "want *SyntaxError, got %T", err)
			assert.Equal(t, tc.pos, se.Pos, "position; error: %v", err)
			assert.Contains(t, se.Msg, tc.msg)
			if tc.line != 0 {
				assert.Equal(t, tc.line, se.Line)
				assert.Equal(t, tc.col, se.Col)
			}
			assert.Contains(t, err.Error(), "offset "+itoa(tc.pos))
		})
	}
}

func TestSyntaxErrorPositionLineCol(t *testing.T) {
	t.Parallel()
	_, err := Parse("SELECT *\n  FROM devices\n  WHERE x = 'ä' AND ?")
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 3, se.Line)
	assert.Equal(t, 21, se.Col, "columns count characters, not bytes")
	assert.Equal(t, "query: syntax error at line 3, column 21 (offset 45): unexpected character '?'", se.Error())
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	good := []string{
		"SELECT * FROM devices",
		"select * from devices.modules",
		"SELECT * FROM Devices WHERE a.b.c = 1",
		"SELECT COUNT() FROM devices",
		"SELECT TOP 10 deviceId FROM devices",
		"SELECT deviceId AS id, tags.x AS y FROM devices WHERE x IN [1, -2, 'a', \"b\", true, null] AND y NIN []",
		"SELECT * FROM devices WHERE tags.group = 'g'",
		"SELECT * FROM devices WHERE x IN ('a', 'b')",
		"SELECT * FROM devices WHERE tags['a b'][0].c = 1",
		"SELECT * FROM devices WHERE .5 < x AND x < 1.5e3 AND y = 0xFF",
		"SELECT * FROM devices WHERE CONCAT(a, b, c) = 'abc' AND SUBSTRING(a, 1) = 'b' AND SUBSTRING(a, 1, 2) = 'bc'",
		"SELECT * FROM devices WHERE INDEX_OF(a, 'b') = 1 OR AS_NUMBER(a) = 1 OR ABS(x) = 1 OR FLOOR(x) = CEILING(x)",
		"SELECT * FROM devices WHERE TRIM(a) = LTRIM(RTRIM(a))",
		"SELECT * FROM devices WHERE x = [1, 2]",
		"SELECT *\tFROM\r\ndevices\nWHERE\tx=1",
		"SELECT * FROM devices WHERE $version > 1 AND properties.desired.$metadata.$lastUpdated > '2020'",
		"SELECT MIN(x) AS lo, MAX(x) AS hi, AVG(x), SUM(x) FROM devices",
		"SELECT * FROM devices WHERE x = '\\u00e4\\n\\t\\/\\\\'",
		"SELECT * FROM devices WHERE " + strings.Repeat("(", MaxDepth) + "x = 1" + strings.Repeat(")", MaxDepth),
	}
	for _, s := range good {
		_, err := Parse(s)
		assert.NoError(t, err, s)
	}
}

func TestQueryAccessors(t *testing.T) {
	t.Parallel()
	q, err := Parse("SELECT TOP 3 deviceId FROM devices.modules")
	require.NoError(t, err)
	assert.Equal(t, Modules, q.Source())
	assert.Equal(t, "devices.modules", q.Source().String())
	assert.False(t, q.IsSelectAll())
	assert.Equal(t, "raw", q.ItemType())
	assert.Equal(t, 3, q.Top())
	assert.False(t, q.IsAggregate())
	assert.Equal(t, "SELECT TOP 3 deviceId FROM devices.modules", q.Text())

	q, err = Parse("SELECT * FROM devices")
	require.NoError(t, err)
	assert.Equal(t, Devices, q.Source())
	assert.True(t, q.IsSelectAll())
	assert.Equal(t, "twin", q.ItemType())
	assert.Equal(t, -1, q.Top())

	q, err = Parse("SELECT COUNT() AS n FROM devices")
	require.NoError(t, err)
	assert.True(t, q.IsAggregate())
}

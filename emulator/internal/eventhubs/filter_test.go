package eventhubs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSelector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want startPosition
	}{
		{"", startPosition{kind: startEarliest}},
		{"amqp.annotation.x-opt-offset > '-1'", startPosition{kind: startEarliest}},
		{"amqp.annotation.x-opt-offset >= '-1'", startPosition{kind: startEarliest, inclusive: true}},
		{"amqp.annotation.x-opt-offset > '@latest'", startPosition{kind: startLatest}},
		{"amqp.annotation.x-opt-offset > '1234'", startPosition{kind: startOffset, value: 1234}},
		{"amqp.annotation.x-opt-offset >= '1234'", startPosition{kind: startOffset, inclusive: true, value: 1234}},
		{"AMQP.Annotation.X-Opt-Offset>='7'", startPosition{kind: startOffset, inclusive: true, value: 7}},
		{"amqp.annotation.x-opt-sequence-number > '-1'", startPosition{kind: startSequence, value: -1}},
		{"amqp.annotation.x-opt-sequence-number >= '42'", startPosition{kind: startSequence, inclusive: true, value: 42}},
		{"amqp.annotation.x-opt-enqueued-time > '1700000000000'", startPosition{kind: startEnqueued, value: 1700000000000}},
		{"amqp.annotation.x-opt-enqueuedtimeutc > 1552556128291", startPosition{kind: startEnqueued, value: 1552556128291}},
	}
	for _, tt := range tests {
		got, err := parseSelector(tt.expr)
		require.NoError(t, err, tt.expr)
		assert.Equal(t, tt.want, got, tt.expr)
	}
	for _, bad := range []string{
		"x-opt-offset > '1'",
		"amqp.annotation.x-opt-offset = '1'",
		"amqp.annotation.x-opt-offset < '1'",
		"amqp.annotation.x-opt-offset > 'abc'",
		"amqp.annotation.x-opt-offset > '-2'",
		"amqp.annotation.x-opt-partition-key > 'a'",
		"amqp.annotation. > '1'",
		"amqp.annotation.x-opt-sequence-number >",
	} {
		_, err := parseSelector(bad)
		assert.Error(t, err, bad)
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "amqp.annotation.x-opt-offset > '-1'", "amqp.annotation.x-opt-sequence-number >= '5'", "amqp.annotation.x-opt-enqueuedtimeutc > 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		pos, err := parseSelector(expr)
		if err != nil {
			return
		}
		if pos.kind == startOffset && pos.value < 0 {
			t.Fatalf("negative offset from %q", expr)
		}
	})
}

// Package amqpvalue reads AMQP values whose wire type varies between peers
// (a status code sent as int32 by one and int64 by another, a sequence
// number as long or uint), shared by the SDK's AMQP clients and the
// emulator's AMQP nodes.
package amqpvalue

// Int64 returns v as an int64 if it is an integer of any AMQP width and
// sign that fits.
func Int64(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case int:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint64:
		if v <= 1<<63-1 {
			return int64(v), true
		}
	}
	return 0, false
}

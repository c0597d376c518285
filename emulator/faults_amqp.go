package emulator

import (
	"time"
)

// LimitTokenLifetime makes every CBS token put from now on count for at
// most d, whatever its own expiry, so that tests see their clients renew
// tokens (or their links detached with amqp:unauthorized-access when they
// do not) without waiting an hour. Zero lifts the limit.
func (e *Emulator) LimitTokenLifetime(d time.Duration) {
	e.amqp.LimitTokenLifetime(d)
}

package listener

import (
	"log/slog"
	"time"
)

// CAKeeper keeps the CA across restarts: the state directory.
type CAKeeper interface {
	// KeptCA returns the CA kept, as Authority's PEM form; nil when none
	// is.
	KeptCA() ([]byte, error)
	// KeepCA keeps pem for the next start, returning once it is stored.
	KeepCA(pem []byte) error
}

// RestoreCA returns the CA the keeper kept, or a new one (kept for the next
// start) when there is none or it is about to expire; nil with a nil
// keeper, where every start makes its own.
func RestoreCA(keeper CAKeeper, hubName string, logger *slog.Logger) (*Authority, error) {
	if keeper == nil {
		return nil, nil
	}
	raw, err := keeper.KeptCA()
	if err != nil {
		return nil, err
	}
	if raw != nil {
		ca, err := parseAuthority(raw)
		if err != nil {
			return nil, err
		}
		if time.Until(ca.cert.NotAfter) > caRenewThreshold {
			return ca, nil
		}
		logger.Info("emulator: the kept CA expires soon; a new one replaces it (clients must trust the new CA file)", "expires", ca.cert.NotAfter)
	}
	ca, err := newAuthority(hubName, stateCALifetime)
	if err != nil {
		return nil, err
	}
	v, err := ca.marshal()
	if err != nil {
		return nil, err
	}
	if err := keeper.KeepCA(v); err != nil {
		return nil, err
	}
	return ca, nil
}

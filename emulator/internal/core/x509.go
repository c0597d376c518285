package core

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// CheckDeviceCertificate authenticates a device or module by the client
// certificate of its TLS connection (certs[0], the leaf), as IoT Hub
// authenticates a selfSigned identity: the certificate's SHA-1 or SHA-256
// thumbprint (hex, any case) must be the identity's primary or secondary
// thumbprint, and the certificate within its validity period. The TLS
// handshake has already proved that the client holds the certificate's
// key. Identities of type certificateAuthority need the hub's verified CA
// certificates, which the emulator does not hold: they are refused, saying
// so.
func (h *Hub) CheckDeviceCertificate(key sessions.Key, certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("no client certificate")
	}
	a, err := h.identityAuth(key)
	if err != nil {
		return err
	}
	switch a.Type {
	case registry.AuthSelfSigned:
	case registry.AuthCertificateAuthority:
		return errors.New("the identity authenticates with certificateAuthority (CA-signed X.509), which needs verified CA certificates this emulator does not hold; register it as selfSigned with its thumbprint")
	default:
		return fmt.Errorf("the identity authenticates with %s, not an X.509 certificate", a.Type)
	}
	leaf := certs[0]
	now := h.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("the client certificate is valid from %s to %s, not now", leaf.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
	}
	s1, s256 := sha1.Sum(leaf.Raw), sha256.Sum256(leaf.Raw)
	for _, t := range []string{a.PrimaryThumbprint, a.SecondaryThumbprint} {
		if t != "" && (strings.EqualFold(t, hex.EncodeToString(s1[:])) || strings.EqualFold(t, hex.EncodeToString(s256[:]))) {
			return nil
		}
	}
	return errors.New("the client certificate's thumbprint is neither the identity's primary nor its secondary thumbprint")
}

package listener

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Certificates are the CA and server certificate of one emulator, made at
// its start; the CA is kept in the state directory when there is one, so
// that clients that trust it keep trusting it across restarts.
type Certificates struct {
	caPEM  []byte
	server tls.Certificate
	pool   *x509.CertPool
}

// certLifetime is long enough for any test run and short enough that a
// leaked CA is of little use; a CA kept in a state directory lives
// stateCALifetime, and is replaced once less than a day of it is left.
const (
	certLifetime     = 7 * 24 * time.Hour
	stateCALifetime  = 90 * 24 * time.Hour
	caRenewThreshold = 24 * time.Hour
)

// Authority is a CA: its certificate and key.
type Authority struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// newAuthority generates an ECDSA P-256 CA valid for lifetime.
func newAuthority(hubName string, lifetime time.Duration) (*Authority, error) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: CA key: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "IoT Hub emulator CA (" + hubName + ")", Organization: []string{"iotkit-go emulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("emulator: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("emulator: CA certificate: %w", err)
	}
	return &Authority{cert: cert, der: der, key: key}, nil
}

// marshal returns the CA's certificate and key in PEM form.
func (a *Authority) marshal() ([]byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(a.key)
	if err != nil {
		return nil, fmt.Errorf("emulator: CA key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// parseAuthority reads what marshal wrote.
func parseAuthority(data []byte) (*Authority, error) {
	a := &Authority{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("emulator: stored CA certificate: %w", err)
			}
			a.cert, a.der = cert, b.Bytes
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("emulator: stored CA key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("emulator: stored CA key is a %T, not ECDSA", k)
			}
			a.key = ek
		}
	}
	if a.cert == nil || a.key == nil || !a.cert.IsCA {
		return nil, fmt.Errorf("emulator: the stored CA is incomplete")
	}
	return a, nil
}

// NewCertificates signs, with ca (a new one when nil), a server certificate
// valid for 127.0.0.1, ::1, localhost and <hub>.azure-devices.net, plus
// each of hosts (names or addresses) that is another.
func NewCertificates(hubName string, ca *Authority, hosts ...string) (*Certificates, error) {
	if ca == nil {
		var err error
		if ca, err = newAuthority(hubName, certLifetime); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: server key: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"iotkit-go emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     earliest(now.Add(certLifetime), ca.cert.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", hubName + ".azure-devices.net"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, host := range hosts {
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); ip != nil {
			if !ip.IsUnspecified() && !slices.ContainsFunc(template.IPAddresses, ip.Equal) {
				template.IPAddresses = append(template.IPAddresses, ip)
			}
		} else if host != "" && !slices.Contains(template.DNSNames, strings.ToLower(host)) {
			template.DNSNames = append(template.DNSNames, strings.ToLower(host))
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("emulator: server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &Certificates{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}),
		server: tls.Certificate{Certificate: [][]byte{der, ca.der}, PrivateKey: key},
		pool:   pool,
	}, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// ServerConfig returns the TLS configuration the ports serve.
func (c *Certificates) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.server},
		MinVersion:   tls.VersionTLS12,
		// One port serves HTTP/1.1, AMQP and MQTT; no HTTP/2.
		NextProtos: []string{"http/1.1", "amqp", "mqtt"},
		// X.509 devices prove who they are with a client certificate, as
		// IoT Hub asks every TLS client for one. It is not verified here
		// (the handshake proves the client holds its key); the MQTT front
		// end matches it with the identity's registered thumbprints.
		ClientAuth: tls.RequestClientCert,
	}
}

// ClientConfig returns a client TLS configuration that trusts the CA.
func (c *Certificates) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
}

// CAPEM returns the CA certificate in PEM form, for clients in other
// processes or languages to trust.
func (c *Certificates) CAPEM() []byte { return bytes.Clone(c.caPEM) }

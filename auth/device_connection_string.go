package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DeviceConnectionString is a parsed device (or module) connection
// string, the credential a device application connects with:
//
//	HostName=myhub.azure-devices.net;DeviceId=sensor-1;SharedAccessKey=<base64>
//	HostName=myhub.azure-devices.net;DeviceId=edge-1;ModuleId=filter;SharedAccessKey=<base64>
//	HostName=myhub.azure-devices.net;DeviceId=camera-1;x509=true
//
// The last names an X.509 identity: it holds no key, and the device
// connects with its client certificate instead. Printing it never shows
// the key.
type DeviceConnectionString struct {
	// HostName is the hub's host name, possibly with a port.
	HostName string
	// DeviceID and ModuleID name the identity (ModuleID empty for a device).
	DeviceID, ModuleID string
	// SharedAccessKey is the identity's base64 key.
	SharedAccessKey Secret
	// GatewayHostName is the IoT Edge gateway a device connects through, if any.
	GatewayHostName string
	// UseDevelopmentEmulator says to talk to a local emulator over plain TCP
	// (accepted for loopback hosts only).
	UseDevelopmentEmulator bool
	// X509 (x509=true) says the identity authenticates with an X.509
	// client certificate, which the connection string does not hold; it
	// then has no SharedAccessKey.
	X509 bool
}

// ParseDeviceConnectionString parses a device or module connection string.
// Fields are ";"-separated, names matched without regard to case; HostName,
// DeviceId and either SharedAccessKey or x509=true are required. Every
// broken rule is a
// [*ConnectionStringError] naming the field, never holding the key.
func ParseDeviceConnectionString(s string) (*DeviceConnectionString, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &ConnectionStringError{Problem: "is empty"}
	}
	var d DeviceConnectionString
	seen := map[string]bool{}
	position := 0
	for part := range strings.SplitSeq(s, ";") {
		position++
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		field := ""
		for _, f := range []string{"HostName", "DeviceId", "ModuleId", "SharedAccessKey", "GatewayHostName", fieldUseDevelopmentEmulator, fieldX509} {
			if strings.EqualFold(name, f) {
				field = f
			}
		}
		switch {
		case field == "" && (strings.EqualFold(name, fieldSharedAccessKeyName) || strings.EqualFold(name, fieldEndpoint)):
			return nil, &ConnectionStringError{Field: name, Problem: "belongs to a service connection string; a device needs HostName, DeviceId and SharedAccessKey"}
		case field == "":
			return nil, &ConnectionStringError{Field: fmt.Sprintf("field %d", position), Problem: "(counting from 1) does not have a known name (known: HostName, DeviceId, ModuleId, SharedAccessKey, GatewayHostName, UseDevelopmentEmulator, x509)"}
		case !ok:
			return nil, &ConnectionStringError{Field: field, Problem: `has no value (no "=")`}
		case seen[field]:
			return nil, &ConnectionStringError{Field: field, Problem: "appears more than once"}
		case value == "":
			return nil, &ConnectionStringError{Field: field, Problem: "is empty"}
		}
		seen[field] = true
		switch field {
		case "HostName":
			d.HostName = value
		case "DeviceId":
			d.DeviceID = value
		case "ModuleId":
			d.ModuleID = value
		case "SharedAccessKey":
			d.SharedAccessKey = NewSecret(value)
		case "GatewayHostName":
			d.GatewayHostName = value
		case fieldUseDevelopmentEmulator, fieldX509:
			switch {
			case strings.EqualFold(value, "true"):
				if field == fieldX509 {
					d.X509 = true
				} else {
					d.UseDevelopmentEmulator = true
				}
			case !strings.EqualFold(value, "false"):
				return nil, &ConnectionStringError{Field: field, Problem: `is neither "true" nor "false"`}
			}
		}
	}
	switch {
	case d.HostName == "":
		return nil, &ConnectionStringError{Field: "HostName", Problem: "is missing"}
	case d.DeviceID == "":
		return nil, &ConnectionStringError{Field: "DeviceId", Problem: "is missing"}
	case d.X509 && !d.SharedAccessKey.IsZero():
		return nil, &ConnectionStringError{Field: "SharedAccessKey", Problem: "is given with x509=true; an identity authenticates with a key or with a certificate, not both"}
	case !d.X509 && d.SharedAccessKey.IsZero():
		return nil, &ConnectionStringError{Field: "SharedAccessKey", Problem: "is missing (or x509=true, for a device with a certificate)"}
	}
	if err := checkHost(d.HostName); err != nil {
		return nil, &ConnectionStringError{Field: "HostName", Problem: err.Error()}
	}
	if !d.X509 {
		if _, err := decodeKey(d.SharedAccessKey.Reveal()); err != nil {
			return nil, &ConnectionStringError{Field: "SharedAccessKey", Problem: err.Error()}
		}
	}
	if d.UseDevelopmentEmulator && !isLoopback(d.HostName) {
		return nil, &ConnectionStringError{Field: fieldUseDevelopmentEmulator, Problem: "is only allowed for loopback hosts (localhost, 127.0.0.0/8, ::1)"}
	}
	return &d, nil
}

// fieldX509 names the flag of an X.509 identity.
const fieldX509 = "x509"

// Resource is the token resource of the identity: {host}/devices/{id}, or
// {host}/devices/{id}/modules/{mid}, ids escaped.
func (d *DeviceConnectionString) Resource() string {
	r := d.HostName + "/devices/" + url.PathEscape(d.DeviceID)
	if d.ModuleID != "" {
		r += "/modules/" + url.PathEscape(d.ModuleID)
	}
	return r
}

// Token signs a SAS token for the identity, valid until expiry: the
// password of MQTT and the token of HTTPS device calls.
// An X.509 identity has no key to sign with: it gets an error.
func (d *DeviceConnectionString) Token(expiry time.Time) (string, error) {
	if d.X509 {
		return "", errors.New("auth: device " + d.DeviceID + " authenticates with an X.509 certificate (x509=true), not a SAS token")
	}
	return SignSAS(d.Resource(), "", d.SharedAccessKey.Reveal(), expiry)
}

// String returns the connection string with the key replaced by
// "<redacted>".
func (d *DeviceConnectionString) String() string {
	parts := []string{"HostName=" + d.HostName, "DeviceId=" + d.DeviceID}
	if d.ModuleID != "" {
		parts = append(parts, "ModuleId="+d.ModuleID)
	}
	if d.X509 {
		parts = append(parts, fieldX509+"=true")
	} else {
		parts = append(parts, "SharedAccessKey="+redacted)
	}
	if d.GatewayHostName != "" {
		parts = append(parts, "GatewayHostName="+d.GatewayHostName)
	}
	if d.UseDevelopmentEmulator {
		parts = append(parts, fieldUseDevelopmentEmulator+"=true")
	}
	return strings.Join(parts, ";")
}

// Format implements [fmt.Formatter]: every verb prints String.
func (d DeviceConnectionString) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(d.String())) }

package transport

import (
	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
)

// ConfigFromConnectionString builds a Config from an IoT Hub service
// connection string: its host, a credential from its key or signature, and
// plain HTTP under UseDevelopmentEmulator.
func ConfigFromConnectionString(connectionString string, opts *iothub.ClientOptions) (Config, error) {
	cs, err := auth.ParseConnectionString(connectionString)
	if err != nil {
		return Config{}, err
	}
	if err := cs.RequireIoTHub(); err != nil {
		return Config{}, err
	}
	cred, err := cs.Credential()
	if err != nil {
		return Config{}, err
	}
	return Config{HostName: cs.HostName, Credential: cred, PlainHTTP: cs.UseDevelopmentEmulator, Options: opts}, nil
}

// NewFromConnectionString returns a Pipeline for the hub and policy of an
// IoT Hub service connection string.
func NewFromConnectionString(connectionString string, opts *iothub.ClientOptions) (*Pipeline, error) {
	cfg, err := ConfigFromConnectionString(connectionString, opts)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
)

// httpsPollInterval is how often a device over HTTPS polls for C2D
// messages, as the device SDKs' HTTP transports do by default.
const httpsPollInterval = time.Second

// runHTTPS plays one device over IoT Hub's HTTPS device API: telemetry
// POSTed to /messages/events, C2D polled every second and completed. The
// API has no direct methods or twins, so the device takes none.
func (s *simulator) runHTTPS(ctx context.Context, d *auth.DeviceConnectionString, cert *tls.Certificate) error {
	host := d.HostName
	if d.GatewayHostName != "" {
		host = d.GatewayHostName
	}
	base := "https://" + host
	if d.UseDevelopmentEmulator {
		base = "http://" + host
	}
	base += "/devices/" + url.PathEscape(d.DeviceID)
	if d.ModuleID != "" {
		base += "/modules/" + url.PathEscape(d.ModuleID)
	}
	dev := &httpsDevice{d: d, base: base, resource: d.Resource(), client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: s.tlsFor(cert), MaxIdleConnsPerHost: 2},
	}}
	defer dev.client.CloseIdleConnections()
	if !d.X509 {
		// Tokens are signed once and reused until they near their expiry,
		// not signed for every request.
		cred, err := auth.NewSharedAccessKeyCredential("", d.SharedAccessKey.Reveal(), &auth.SharedAccessKeyCredentialOptions{TokenLifetime: simTokenLifetime})
		if err != nil {
			return err
		}
		dev.cred = cred
	}
	// The first request shows whether the device may connect at all.
	if _, err := dev.pollC2D(ctx); err != nil {
		return err
	}
	s.stats.connected.Add(1)
	defer s.stats.connected.Add(-1)
	go func() {
		t := time.NewTicker(httpsPollInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			for {
				got, err := dev.pollC2D(ctx)
				if err != nil && ctx.Err() == nil {
					s.stats.errors.Add(1)
				}
				if !got {
					break
				}
				s.stats.c2d.Add(1)
			}
		}
	}()
	return s.telemetryLoop(ctx, func(body []byte) error {
		return dev.do(ctx, http.MethodPost, "/messages/events", body, http.StatusNoContent,
			"iothub-contenttype", "application/json", "iothub-contentencoding", "utf-8")
	})
}

// httpsDevice is one device's HTTPS requests.
type httpsDevice struct {
	d        *auth.DeviceConnectionString
	base     string
	resource string          // what the device's tokens are for
	cred     auth.Credential // nil for an X.509 device, whose certificate is its credential
	client   *http.Client
}

// do sends one request and checks its status; headers are name, value
// pairs.
func (h *httpsDevice) do(ctx context.Context, method, path string, body []byte, want int, headers ...string) error {
	_, err := h.call(ctx, method, path, body, want, headers...)
	return err
}

func (h *httpsDevice) call(ctx context.Context, method, path string, body []byte, want int, headers ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path+"?api-version="+iothub.DefaultAPIVersion, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if h.cred != nil {
		tok, err := h.cred.Token(ctx, h.resource)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", auth.AuthorizationHeader(tok))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != want && !(want == http.StatusOK && resp.StatusCode == http.StatusNoContent) {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// pollC2D takes the next C2D message, if there is one, and completes it.
func (h *httpsDevice) pollC2D(ctx context.Context) (bool, error) {
	resp, err := h.call(ctx, http.MethodGet, "/messages/deviceBound", nil, http.StatusOK)
	if err != nil || resp.StatusCode == http.StatusNoContent {
		return false, err
	}
	etag := strings.Trim(resp.Header.Get("ETag"), `"`)
	return true, h.do(ctx, http.MethodDelete, "/messages/deviceBound/"+url.PathEscape(etag), nil, http.StatusNoContent)
}

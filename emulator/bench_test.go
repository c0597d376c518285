package emulator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

func benchmarkRequests(b *testing.B, method, path, body string) {
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Tags: map[string]any{"site": "a"}}}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	owner := e.Policies()[0]
	tok, err := auth.SignSAS(e.HostName(), owner.Name, owner.PrimaryKey, time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	url := e.URL() + path + "?" + apiVersion
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, url, rd)
			req.Header.Set("Authorization", tok)
			resp, err := e.Client().Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "req/s")
}

func BenchmarkGetDevice(b *testing.B) {
	benchmarkRequests(b, http.MethodGet, "/devices/d1", "")
}

func BenchmarkPatchTwin(b *testing.B) {
	benchmarkRequests(b, http.MethodPatch, "/twins/d1", `{"properties":{"desired":{"rate":5,"mode":{"a":"b"}}}}`)
}

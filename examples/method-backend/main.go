// Method-backend is a small web backend that turns a button press into a
// direct method on a device, and the hub's answers into HTTP statuses a
// web or mobile front end can act on:
//
//	POST /devices/{id}/fan   body {"on": true}
//	  200 with the device's answer
//	  404 the device is not registered
//	  503 the device is offline (DeviceNotOnline), try later
//	  504 the device did not answer in time
//
// Run it against a hub with IOTHUB_CONNECTION_STRING set, or alone to use
// an in-process emulator with one simulated fan ("fan-1"):
//
//	go run ./examples/method-backend
//	curl -X POST localhost:8080/devices/fan-1/fan -d '{"on":true}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cs := os.Getenv("IOTHUB_CONNECTION_STRING")
	if cs == "" {
		hub, err := startDemoHub(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer hub.Close()
		cs = hub.ConnectionString()
		log.Printf("using an in-process emulator with a simulated device fan-1")
	}
	client, err := methods.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: newHandler(client), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("serving on http://%s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newHandler serves POST /devices/{id}/fan.
func newHandler(client *methods.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devices/{id}/fan", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			On bool `json:"on"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			http.Error(w, `{"error":"send {\"on\": true|false}"}`, http.StatusBadRequest)
			return
		}
		resp, err := client.Invoke(r.Context(), r.PathValue("id"), &methods.Request{
			MethodName:      "setFan",
			Payload:         body,
			ResponseTimeout: 10 * time.Second,
		})
		status, answer := statusFor(err)
		if err == nil {
			status, answer = http.StatusOK, map[string]any{"deviceStatus": resp.Status, "payload": resp.Payload}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(answer)
	})
	return mux
}

// statusFor maps the hub's answers to what a front end can act on.
func statusFor(err error) (int, map[string]any) {
	switch {
	case err == nil:
		return http.StatusOK, nil
	case errors.Is(err, iothub.ErrDeviceNotFound), errors.Is(err, iothub.ErrModuleNotFound):
		return http.StatusNotFound, map[string]any{"error": "no such device"}
	case errors.Is(err, iothub.ErrDeviceNotOnline):
		return http.StatusServiceUnavailable, map[string]any{"error": "the device is offline; try again later"}
	case errors.Is(err, iothub.ErrTimeout):
		return http.StatusGatewayTimeout, map[string]any{"error": "the device did not answer in time"}
	case errors.Is(err, iothub.ErrArgumentInvalid):
		return http.StatusBadRequest, map[string]any{"error": err.Error()}
	}
	return http.StatusBadGateway, map[string]any{"error": "the hub could not be reached"}
}

// startDemoHub starts an emulator with a simulated fan that answers setFan.
func startDemoHub(ctx context.Context) (*emulator.Emulator, error) {
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "fan-1"}, {DeviceID: "fan-offline"}}})
	if err != nil {
		return nil, err
	}
	fan, err := hub.Device("fan-1")
	if err == nil {
		err = fan.Connect(ctx)
	}
	if err != nil {
		hub.Close()
		return nil, err
	}
	fan.HandleMethod("setFan", func(_ context.Context, payload json.RawMessage) (int, any) {
		var req struct{ On bool }
		_ = json.Unmarshal(payload, &req)
		return 200, map[string]bool{"fanOn": req.On}
	})
	return hub, nil
}

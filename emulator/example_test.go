package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

// getDevice reads a device over plain REST, as any client would.
func getDevice(e *emulator.Emulator, id string) (status int, device map[string]any) {
	owner := e.Policies()[0]
	token, err := auth.SignSAS(e.HostName(), owner.Name, owner.PrimaryKey, time.Now().Add(time.Hour))
	if err != nil {
		panic(err)
	}
	req, err := http.NewRequest(http.MethodGet, e.URL()+"/devices/"+id+"?api-version="+iothub.DefaultAPIVersion, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", token)
	resp, err := e.Client().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&device)
	return resp.StatusCode, device
}

func Example() {
	e, err := emulator.Start(context.Background(), &emulator.Options{
		Devices: []emulator.DeviceSeed{{DeviceID: "thermostat"}},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	status, device := getDevice(e, "thermostat")
	fmt.Println(status, device["deviceId"], device["status"], device["connectionState"])
	// Output: 200 thermostat enabled Disconnected
}

func ExampleEmulator_InjectFault() {
	e, err := emulator.Start(context.Background(), &emulator.Options{
		Devices: []emulator.DeviceSeed{{DeviceID: "thermostat"}},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// The next two reads of any device are throttled.
	e.InjectFault(emulator.Fault{
		Method:     http.MethodGet,
		Path:       "/devices/*",
		Count:      2,
		Code:       iothub.CodeThrottlingException,
		RetryAfter: time.Second,
	})
	for range 3 {
		status, _ := getDevice(e, "thermostat")
		fmt.Println(status)
	}
	fmt.Println(e.RequestCount(http.MethodGet, "/devices/*"), "requests")
	// Output:
	// 429
	// 429
	// 200
	// 3 requests
}

func ExampleEmulator_ConnectionString() {
	e, err := emulator.Start(context.Background(), &emulator.Options{
		Policies: []emulator.Policy{{
			Name:         "iothubowner",
			PrimaryKey:   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			SecondaryKey: "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=",
			Rights:       emulator.AllRights,
		}},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	fmt.Println(e.ConnectionString() == "HostName="+e.HostName()+
		";SharedAccessKeyName=iothubowner;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="+
		";UseDevelopmentEmulator=true")
	// Output: true
}

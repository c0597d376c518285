package emulator_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

// A device uploads a file; the service learns of it through a file
// notification. With no storage linked, as here, no bytes are stored and
// the notification names the blob the hub would have written.
func ExampleSimulatedDevice_UploadFile() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "camera"}}})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	camera, err := e.Device("camera")
	if err != nil {
		panic(err)
	}
	if err := camera.Connect(ctx); err != nil {
		panic(err)
	}
	if err := camera.UploadFile(ctx, "frame-0001.jpg", []byte("…jpeg bytes…")); err != nil {
		panic(err)
	}

	service, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	defer service.Close(ctx)
	got, stop := context.WithCancel(ctx)
	_ = service.ReceiveFileNotifications(got, func(_ context.Context, n *c2d.FileNotification) error {
		fmt.Println(n.DeviceID, n.BlobName, n.BlobSizeInBytes)
		stop()
		return nil
	})
	// Output: camera camera/frame-0001.jpg 16
}

// Linking a storage account makes uploads real: devices (simulated ones,
// and the official SDKs through POST /devices/{id}/files) write their
// blobs into it with a SAS the hub signs, and each notification names the
// real blob, its size and its time. Azurite's connection string works.
func ExampleFileUploadOptions() {
	e, err := emulator.Start(context.Background(), &emulator.Options{
		FileUpload: &emulator.FileUploadOptions{
			StorageConnectionString: os.Getenv("STORAGE_CONNECTION_STRING"), // e.g. Azurite's
			Container:               "uploads",
			SASTTL:                  time.Hour,
		},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	fmt.Println("devices upload into", e.FileUploadContainerURL())
}

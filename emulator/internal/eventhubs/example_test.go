package eventhubs_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// The emulator wires a Hub into its AMQP server, appends what simulated
// devices send, and consumers read it from a partition.
func Example() {
	hub := eventhubs.New(&eventhubs.Options{EntityName: "myhub"})
	defer hub.Close()
	srv := amqpserver.NewServer(nil)
	defer srv.Close()
	if err := hub.Register(srv); err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(context.Background(), nc)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid, seq, _ := hub.Append(ctx, eventhubs.Event{DeviceID: "thermostat", Body: []byte(`{"t":21.5}`)})

	conn, _ := amqp.Dial(ctx, "amqp://"+ln.Addr().String(), nil)
	defer conn.Close()
	session, _ := conn.NewSession(ctx, nil)
	r, _ := session.NewReceiver(ctx, "myhub/ConsumerGroups/$Default/Partitions/"+pid, &amqp.ReceiverOptions{
		Filters: []amqp.LinkFilter{amqp.NewSelectorFilter("amqp.annotation.x-opt-sequence-number >= '0'")},
		Credit:  10,
	})
	msg, _ := r.Receive(ctx, nil)
	fmt.Println(seq, string(msg.GetData()), msg.Annotations["iothub-connection-device-id"], msg.Annotations["iothub-message-source"])
	// Output: 0 {"t":21.5} thermostat Telemetry
}

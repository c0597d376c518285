package amqpserver_test

import (
	"context"
	"fmt"
	"net"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// A node that receives cloud-to-device messages for any device and answers
// each with an outcome.
func ExampleServer_Handle() {
	srv := amqpserver.NewServer(nil)
	got := make(chan string, 1)
	_ = srv.Handle("/devices/{id}/messages/devicebound", &amqpserver.Node{
		Incoming: func(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
			device := l.Param("id")
			return func(d *amqpserver.Delivery) amqpserver.Outcome {
				got <- device + ": " + string(d.Message.GetData())
				return amqpserver.Accepted{}
			}, nil
		},
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(context.Background(), nc)
		}
	}()
	defer srv.Close()
	defer ln.Close()

	ctx := context.Background()
	conn, _ := amqp.Dial(ctx, "amqp://"+ln.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	defer conn.Close()
	session, _ := conn.NewSession(ctx, nil)
	sender, _ := session.NewSender(ctx, "/devices/thermostat-1/messages/devicebound", nil)
	if err := sender.Send(ctx, amqp.NewMessage([]byte("fan on")), nil); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-got)
	// Output: thermostat-1: fan on
}

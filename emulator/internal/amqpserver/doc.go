// Package amqpserver is the AMQP 1.0 server engine of the IoT Hub emulator.
//
// go-amqp only speaks the client side, so this package implements the
// server side from the OASIS AMQP 1.0 specification: protocol headers, SASL
// (ANONYMOUS and PLAIN), connections, sessions with their windows, links
// with credit and drain, multi-frame transfers in both settle modes, and
// dispositions. Messages reach nodes as *amqp.Message values from
// github.com/Azure/go-amqp.
//
// The emulator builds on three things:
//
//   - Nodes, registered by address pattern with Server.Handle. A Node's
//     Incoming callback takes links on which clients send (the node returns
//     an Outcome per message, at once or later); its Outgoing callback takes
//     links on which clients receive (the node pushes with OutgoingLink.Send,
//     which honours credit, and learns each outcome from the returned
//     OutgoingDelivery). Either may refuse the attach, and Link.Detach ends a
//     link later, with any condition (RedirectError builds the redirect).
//   - Per-connection state: Conn.Identity from SASL, Conn.SetIdentity and
//     Conn.SetValue for what CBS establishes later.
//   - NewRequestResponseNode for $cbs and $management.
//
// A node in a few lines:
//
//	srv := amqpserver.NewServer(&amqpserver.ServerOptions{Logger: log})
//	srv.Handle("/devices/{id}/messages/devicebound", &amqpserver.Node{
//		Incoming: func(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
//			if !allowed(l.Conn().Identity()) {
//				return nil, &amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess}
//			}
//			return func(d *amqpserver.Delivery) amqpserver.Outcome {
//				queue.Put(l.Param("id"), d.Message)
//				return amqpserver.Accepted{}
//			}, nil
//		},
//	})
//	go srv.ServeConn(ctx, conn) // for each accepted net.Conn
//
// Server.ServeConn takes a net.Conn that still yields the client's protocol
// header, so one listener can sniff and share a port with HTTP. Faults for
// tests come from Conn.Close, Link.Detach, Server.DetachLinks and
// Server.SetFrameHook.
package amqpserver

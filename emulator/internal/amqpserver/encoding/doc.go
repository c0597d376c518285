// Package encoding implements the AMQP 1.0 type system and frame layout
// (OASIS AMQP 1.0, parts 1 and 2) for the emulator's AMQP server.
//
// Decoding is defensive: every length and count is checked against the bytes
// that remain before anything is allocated, nesting depth is bounded, and no
// input can make a decoder panic. Values decode into plain Go types (see
// [Reader.ReadAny]); performatives decode into the structs in this package.
package encoding

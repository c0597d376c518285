package auth

import (
	"context"
	"testing"
	"time"
)

func BenchmarkSignSAS(b *testing.B) {
	expiry := time.Unix(2_000_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignSAS("myhub.azure-devices.net", "iothubowner", testKey, expiry); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCredentialTokenCached(b *testing.B) {
	cred, err := NewSharedAccessKeyCredential("iothubowner", testKey, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const audience = "myhub.azure-devices.net"
	if _, err := cred.Token(ctx, audience); err != nil {
		b.Fatal(err)
	}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cred.Token(ctx, audience); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cred.Token(ctx, audience); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkParseConnectionString(b *testing.B) {
	const s = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseConnectionString(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndVerifySAS is the emulator's cost of checking the token of
// one request.
func BenchmarkParseAndVerifySAS(b *testing.B) {
	tok, err := SignSAS("myhub.azure-devices.net", "iothubowner", testKey, time.Unix(2_000_000_000, 0))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sas, err := ParseSAS(tok)
		if err != nil {
			b.Fatal(err)
		}
		if !sas.VerifySignature(testKey) {
			b.Fatal("signature does not verify")
		}
	}
}

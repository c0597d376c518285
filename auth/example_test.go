package auth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotkit-go/iothub/auth"
)

func ExampleParseConnectionString() {
	cs, err := auth.ParseConnectionString(
		"HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=cGFzc3dvcmQ=;UseDevelopmentEmulator=true")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cs.HostName)
	fmt.Println(cs.SharedAccessKeyName)
	fmt.Println(cs.UseDevelopmentEmulator)
	fmt.Println(cs) // the key is redacted

	// Errors name the field, never its value.
	_, err = auth.ParseConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=not-base64!")
	fmt.Println(err)
	// Output:
	// 127.0.0.1:40123
	// iothubowner
	// true
	// HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=<redacted>;UseDevelopmentEmulator=true
	// auth: connection string field SharedAccessKey is not valid base64
}

func ExampleParseConnectionString_eventHub() {
	cs, err := auth.ParseConnectionString(
		"Endpoint=sb://ihsuprodam001.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=cGFzc3dvcmQ=;EntityPath=myhub")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cs.HostName, cs.EntityPath)
	// Output:
	// ihsuprodam001.servicebus.windows.net myhub
}

func ExampleSignSAS() {
	token, err := auth.SignSAS("myhub.azure-devices.net", "iothubowner", "cGFzc3dvcmQ=", time.Unix(1_900_000_000, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(token)
	// Output:
	// SharedAccessSignature sr=myhub.azure-devices.net&sig=5TFLFyNmXfTXhmBHZKYwiqIRRaUG3kThZH5Xaz9McHk%3D&se=1900000000&skn=iothubowner
}

func ExampleParseSAS() {
	const key = "cGFzc3dvcmQ="
	token, _ := auth.SignSAS("myhub.azure-devices.net", "service", key, time.Unix(1_900_000_000, 0))

	sas, err := auth.ParseSAS(token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sas.Resource, sas.KeyName, sas.Expiry.Format(time.RFC3339))
	fmt.Println("signed with key:", sas.VerifySignature(key))
	fmt.Println("expired in 2031:", sas.Expired(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)))
	fmt.Println(sas) // the signature is redacted
	// Output:
	// myhub.azure-devices.net service 2030-03-17T17:46:40Z
	// signed with key: true
	// expired in 2031: true
	// SharedAccessSignature sr=myhub.azure-devices.net&sig=<redacted>&se=1900000000&skn=service
}

func ExampleNewSharedAccessKeyCredential() {
	// A fixed clock makes the token predictable; leave Now nil in real code.
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cred, err := auth.NewSharedAccessKeyCredential("iothubowner", "cGFzc3dvcmQ=", &auth.SharedAccessKeyCredentialOptions{
		TokenLifetime: 30 * time.Minute,
		Now:           func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := cred.Token(context.Background(), "myhub.azure-devices.net")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.ExpiresOn.Format(time.RFC3339))
	fmt.Println(auth.AuthorizationHeader(tok))
	fmt.Println(cred) // the key is redacted
	// Output:
	// 2030-01-01T00:30:00Z
	// SharedAccessSignature sr=myhub.azure-devices.net&sig=qmogAOmcj9yphA4zDovX16N46jS%2FDfeuIJ2fD%2F2%2FEy0%3D&se=1893457800&skn=iothubowner
	// SharedAccessKeyCredential{KeyName: "iothubowner", Key: <redacted>, TokenLifetime: 30m0s}
}

func ExampleNewSASCredential() {
	// A token that expired long ago: accepted, but Token says so.
	cred, err := auth.NewSASCredential("SharedAccessSignature sr=myhub.azure-devices.net&sig=c2lnbmF0dXJl&se=1000000000")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = cred.Token(context.Background(), "myhub.azure-devices.net")
	fmt.Println(errors.Is(err, auth.ErrTokenExpired))
	fmt.Println(err)
	// Output:
	// true
	// auth: SAS token expired at 2001-09-09T01:46:40Z
}

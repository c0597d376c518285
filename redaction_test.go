package iothub_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

const module = "github.com/iotkit-go/iothub"

// The secrets of the test: a policy key whose decoded bytes spell
// "leaked-key-…", and a blob SAS signature.
var (
	keyBytes = []byte("leaked-key-leaked-key-leaked-key")
	key      = base64.StdEncoding.EncodeToString(keyBytes)
	blobSig  = "LEAKEDBLOBSIGNATURE"
)

// leaks reports what of a secret a printed text shows.
func leaks(out string) string {
	for _, s := range []string{key, "leaked-key", blobSig, fmt.Sprint(keyBytes), fmt.Sprintf("%x", keyBytes), fmt.Sprintf("%X", keyBytes)} {
		if strings.Contains(out, s) {
			return s
		}
	}
	// A SAS token's signature, unless it is the placeholder.
	for rest := out; ; {
		i := strings.Index(rest, "sig=")
		if i < 0 {
			return ""
		}
		rest = rest[i+len("sig="):]
		if !strings.HasPrefix(rest, "<redacted>") && !strings.HasPrefix(rest, "%3Credacted%3E") && !strings.HasPrefix(rest, "REDACTED") {
			return "sig=" + rest[:min(len(rest), 8)]
		}
	}
}

var verbs = []string{"%s", "%q", "%v", "%+v", "%#v", "%x", "%X", "%d", "%T %[1]v"}

// printed returns v printed under every verb, alone, behind a pointer, and
// inside a struct's unexported and exported fields (values and pointers),
// the ways a user's own types might hold it.
func printed(v any) []string {
	forms := []any{
		v,
		&v,
		struct{ x any }{v},
		&struct{ x any }{v},
		struct{ X any }{v},
		[]any{v},
		map[string]any{"k": v},
	}
	var out []string
	for _, f := range forms {
		for _, verb := range verbs {
			out = append(out, fmt.Sprintf(verb, f))
		}
	}
	return out
}

// walker visits every value reachable from the roots, unexported fields
// included, and prints each whose type is this module's.
type walker struct {
	t       *testing.T
	seen    map[uintptr]bool
	visited map[string]bool // type names of the module seen
}

func (w *walker) walk(path string, v reflect.Value, depth int) {
	if !v.IsValid() || depth > 40 {
		return
	}
	// The emulator hands its keys out by design (Policies, connection
	// strings) and its engine holds devices' keys and tokens: an Emulator
	// and a Policy must print no key when printed themselves, which
	// checkDirect sees to; their insides are not walked.
	if t := v.Type(); strings.HasPrefix(t.PkgPath(), module+"/emulator") ||
		t.Kind() == reflect.Pointer && strings.HasPrefix(t.Elem().PkgPath(), module+"/emulator") {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.check(path, v)
		w.walk(path+".*", v.Elem(), depth+1)
	case reflect.Interface:
		w.walk(path, v.Elem(), depth+1)
	case reflect.Struct:
		w.check(path, v)
		for i := range v.NumField() {
			w.walk(path+"."+v.Type().Field(i).Name, v.Field(i), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range min(v.Len(), 20) {
			w.walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for n := 0; it.Next() && n < 20; n++ {
			w.walk(path+"[key]", it.Key(), depth+1)
			w.walk(path+"[value]", it.Value(), depth+1)
		}
	}
}

// check prints v (a module type, or a pointer to one) every way.
func (w *walker) check(path string, v reflect.Value) {
	t := v.Type()
	named := t
	if named.Kind() == reflect.Pointer {
		named = named.Elem()
	}
	if !strings.HasPrefix(named.PkgPath(), module) {
		return
	}
	w.visited[named.PkgPath()+"."+named.Name()] = true
	val, ok := usable(v)
	if !ok {
		return
	}
	for _, out := range printed(val) {
		if s := leaks(out); s != "" {
			w.t.Errorf("%s (%s) shows %q when printed: %.200s", path, t, s, out)
			return
		}
	}
}

// usable turns v into an interface value, reaching unexported fields
// through their address.
func usable(v reflect.Value) (any, bool) {
	if v.CanInterface() {
		return v.Interface(), true
	}
	if v.CanAddr() {
		return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem().Interface(), true
	}
	return nil, false
}

// TestNothingPrintsASecret builds every type of the SDK that holds a key,
// signature or token, uses it once so that its caches hold tokens, and
// prints everything reachable from it under every fmt verb.
func TestNothingPrintsASecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var policies []emulator.Policy
	for _, p := range emulator.DefaultPolicies() {
		p.PrimaryKey, p.SecondaryKey = key, key
		policies = append(policies, p)
	}
	e, err := emulator.Start(ctx, &emulator.Options{Policies: policies, Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	defer e.Close()
	cs := e.ConnectionString()

	var roots []any
	add := func(v any, err error) {
		t.Helper()
		require.NoError(t, err)
		roots = append(roots, v)
	}
	parsed, err := auth.ParseConnectionString(cs)
	add(parsed, err)
	roots = append(roots, *parsed)
	keyCred, err := auth.NewSharedAccessKeyCredential("iothubowner", key, nil)
	require.NoError(t, err)
	tok, err := keyCred.Token(ctx, e.HostName())
	require.NoError(t, err)
	roots = append(roots, keyCred, keyCred.EventHubsCredential(), tok, &tok)
	sas, err := auth.ParseSAS(tok.Value.Reveal())
	add(sas, err)
	roots = append(roots, *sas)
	sasCred, err := auth.NewSASCredential(tok.Value.Reveal())
	add(sasCred, err)
	tc := auth.NewTokenCredential(e.TokenCredential(emulator.RoleDataContributor))
	_, err = tc.Token(ctx, e.HostName())
	add(tc, err)
	fromCS, err := auth.NewCredentialFromConnectionString(cs)
	add(fromCS, err)

	opts := &iothub.ClientOptions{HTTPClient: e.Client()}
	reg, err := registry.NewClientFromConnectionString(cs, opts)
	require.NoError(t, err)
	_, err = reg.GetDevice(ctx, "d1")
	add(reg, err)
	tw, err := twin.NewClientFromConnectionString(cs, opts)
	require.NoError(t, err)
	_, err = tw.Get(ctx, "d1")
	add(tw, err)
	mc, err := methods.NewClientFromConnectionString(cs, opts)
	add(mc, err)
	cc, err := c2d.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	err = cc.Send(ctx, "d1", &c2d.Message{Body: []byte("x")})
	add(cc, err)
	consumer, err := eventhub.NewConsumerFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = consumer.Properties(ctx)
	add(consumer, err)
	receiver, err := consumer.NewPartitionReceiver("0", nil)
	add(receiver, err)
	ehConsumer, err := eventhub.NewConsumerFromConnectionString(e.EventHubConnectionString(), nil)
	require.NoError(t, err)
	_, err = ehConsumer.Properties(ctx)
	add(ehConsumer, err)
	fileStore, err := checkpoints.NewFileStore(t.TempDir())
	add(fileStore, err)
	roots = append(roots, checkpoints.NewMemoryStore())
	blobClient, err := container.NewClientWithNoCredential("https://acct.blob.core.windows.net/c?sv=2023-01-03&sp=rwl&sig="+blobSig, nil)
	require.NoError(t, err)
	blobStore, err := checkpoints.NewBlobStore(blobClient, nil)
	add(blobStore, err)
	proc, err := eventhub.NewProcessor(consumer, fileStore, nil)
	add(proc, err)
	roots = append(roots, auth.NewSecret(key))

	// The emulator and its policies, printed themselves.
	for _, v := range []any{e, e.Policies()[0], e.Policies()} {
		for _, f := range []any{v, &v, []any{v}, map[string]any{"k": v}} {
			for _, verb := range verbs {
				if out := fmt.Sprintf(verb, f); leaks(out) != "" {
					t.Errorf("%T printed with %s shows a key: %.200s", v, verb, out)
				}
			}
		}
	}
	// Stop every goroutine the clients and the hub run, so that the walk
	// reads their state alone (the race detector watches): what was cached
	// while they worked stays for the walk to find.
	require.NoError(t, receiver.Close(ctx))
	require.NoError(t, cc.Close(ctx))
	require.NoError(t, consumer.Close(ctx))
	require.NoError(t, ehConsumer.Close(ctx))
	e.Close()
	w := &walker{t: t, seen: map[uintptr]bool{}, visited: map[string]bool{}}
	for _, r := range roots {
		w.walk(fmt.Sprintf("%T", r), reflect.ValueOf(r), 0)
	}
	checkEveryTypeConsidered(t, w.visited)
}

// secretFree are the module's exported struct types with unexported
// fields that the walk does not reach, and why they cannot hold a secret.
// A new type that holds state must be reached by the walk (add a root) or
// listed here with its reason.
var secretFree = map[string]string{
	"iothub.Error":              "the hub's answer: code, message, tracking id",
	"eventhub.Event":            "a received event",
	"eventhub.PartitionContext": "names a partition and writes checkpoints through the processor",
	"eventhub.Checkpoint":       "a position in a partition",
	"eventhub.Ownership":        "an owner id and an ETag",
	"checkpoints.Error":         "an error naming an operation",
	"registry.BulkError":        "per-device errors",
	"emulator.Emulator":         "prints no key itself (checked above); hands its keys out by design",
	"emulator.SimulatedDevice":  "names a device; its keys live in the emulator's registry",
	"emulator.C2DMessage":       "a message as a simulated device receives it",
	"emulator.DeviceTwin":       "a twin as a simulated device reads it",
}

// checkEveryTypeConsidered lists the module's exported struct types with
// unexported fields (from the source, so that none is forgotten) and
// fails for each the walk did not reach that secretFree does not list.
func checkEveryTypeConsidered(t *testing.T, visited map[string]bool) {
	t.Helper()
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if slices.Contains(strings.Split(rel, string(filepath.Separator)), "internal") ||
				strings.HasPrefix(rel, "examples") || strings.HasPrefix(rel, "cmd") || strings.HasPrefix(rel, "bench") ||
				strings.HasPrefix(rel, "interop") || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkgPath := module
		if dir := filepath.ToSlash(filepath.Dir(rel)); dir != "." {
			pkgPath += "/" + dir
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok || !ts.Name.IsExported() || !hasUnexportedField(st) {
					continue
				}
				full := pkgPath + "." + ts.Name.Name
				short := f.Name.Name + "." + ts.Name.Name
				if !visited[full] && secretFree[short] == "" {
					t.Errorf("%s holds unexported state and the walk does not reach it: add a root to TestNothingPrintsASecret, or list it in secretFree with the reason it holds no secret", short)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

func hasUnexportedField(st *ast.StructType) bool {
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if !n.IsExported() {
				return true
			}
		}
	}
	return false
}

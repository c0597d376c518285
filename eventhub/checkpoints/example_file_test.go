package checkpoints_test

import (
	"context"
	"fmt"
	"os"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// A Processor records its progress in a directory; after a restart a new
// FileStore on the same directory finds the checkpoint again.
func ExampleFileStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "checkpoints-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := checkpoints.NewFileStore(dir)
	if err != nil {
		panic(err)
	}
	offset, seq := "8589934592", int64(42)
	err = store.SetCheckpoint(ctx, eventhub.Checkpoint{
		Namespace: "myhub-ns.servicebus.windows.net", EventHub: "myhub", ConsumerGroup: "$Default",
		PartitionID: "3", Offset: &offset, SequenceNumber: &seq,
	})
	if err != nil {
		panic(err)
	}

	restarted, err := checkpoints.NewFileStore(dir)
	if err != nil {
		panic(err)
	}
	cps, err := restarted.ListCheckpoints(ctx, "myhub-ns.servicebus.windows.net", "myhub", "$Default")
	if err != nil {
		panic(err)
	}
	for _, cp := range cps {
		fmt.Printf("partition %s: resume after offset %s, sequence number %d\n", cp.PartitionID, *cp.Offset, *cp.SequenceNumber)
	}
	// Output:
	// partition 3: resume after offset 8589934592, sequence number 42
}

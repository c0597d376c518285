package checkpoints_test

import (
	"context"
	"fmt"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// Two Processors race for partition 0. Each claims with the ETag it last
// saw (none yet, so ""): one wins, the other's claim is simply absent.
// Later the winner relinquishes the partition by claiming it with no owner.
func ExampleMemoryStore() {
	ctx := context.Background()
	store := checkpoints.NewMemoryStore()
	claim := func(owner, etag string) []eventhub.Ownership {
		got, err := store.ClaimOwnership(ctx, []eventhub.Ownership{{
			Namespace: "myhub-ns.servicebus.windows.net", EventHub: "myhub", ConsumerGroup: "$Default",
			PartitionID: "0", OwnerID: owner, ETag: etag,
		}})
		if err != nil {
			panic(err)
		}
		return got
	}

	a := claim("processor-a", "")
	b := claim("processor-b", "")
	fmt.Println("processor-a claimed:", len(a), "processor-b claimed:", len(b))

	claim("", a[0].ETag) // relinquish
	owned, _ := store.ListOwnership(ctx, "myhub-ns.servicebus.windows.net", "myhub", "$Default")
	fmt.Printf("partition %s owner %q\n", owned[0].PartitionID, owned[0].OwnerID)

	b = claim("processor-b", owned[0].ETag)
	fmt.Println("processor-b claimed:", len(b), "as", b[0].OwnerID)
	// Output:
	// processor-a claimed: 1 processor-b claimed: 0
	// partition 0 owner ""
	// processor-b claimed: 1 as processor-b
}

package storagetest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// AzureServerEnv names the Azure blob emulator (Azurite's azurite-blob);
// without it the tests look for bin/azurite/azurite-blob in the repository
// root, which hack/install-azurite.sh installs.
const AzureServerEnv = "INDEXBUILD_AZURE_SERVER"

// AzuriteAccount and AzuriteKey are the emulator's well-known development
// account (documented with Azurite; not a secret).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var azureServer = &shared{
	server: server{name: "Azure", env: AzureServerEnv, bin: "bin/azurite/azurite-blob", make: "azure-server"},
	args: func(host, port string) []string {
		return []string{"--blobHost", host, "--blobPort", port, "--inMemoryPersistence",
			"--silent", "--disableTelemetry", "--skipApiVersionCheck"}
	},
	found: func(string) {
		os.Setenv("AZURE_STORAGE_ACCOUNT", AzuriteAccount)
		os.Setenv("AZURE_STORAGE_KEY", AzuriteKey)
	},
}

// Azure is azblob:// against Azurite's blob service (in memory) on a free
// loopback port: one server per test process, started on first use, and a
// fresh container per Open. The account and key reach the Azure client
// the way they reach a pod, through AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY, set for the whole process.
func Azure() Store {
	// Copy Blob reports no checksum of the copy.
	return Store{Name: "azure", Open: func(t testing.TB) storage.Bucket {
		return OpenURI(t, NewAzureContainer(t))
	}}
}

// NewAzureContainer creates an empty container on the shared Azure server
// and returns its URI.
func NewAzureContainer(t testing.TB) string {
	t.Helper()
	addr := AzureEndpoint(t)
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential(fmt.Sprintf("http://%s/%s/", addr, AzuriteAccount), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("test-%d", buckets.Add(1))
	if _, err := client.CreateContainer(context.Background(), name, nil); err != nil {
		t.Fatalf("create Azure container %s: %v", name, err)
	}
	return fmt.Sprintf("azblob://%s/out?protocol=http&domain=%s", name, addr)
}

// AzureEndpoint is the shared Azure server's address.
func AzureEndpoint(t testing.TB) string {
	t.Helper()
	return azureServer.address(t)
}

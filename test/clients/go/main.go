// Command roundtrip goes through secrets.v1 with the generated Go module (gen/go): create a secret,
// read it, put version 2, read version 1, list it, and expect NOT_FOUND for an absent name. It prints
// a JSON summary on success and exits 1 with a message otherwise.
//
//	go run . [-addr 127.0.0.1:50051] [-token JWT] [-name NAME]
//
// -addr and -token default to $SECRETS_ADDR and $SECRETS_TOKEN (plaintext h2c gRPC, bearer token).
// The values written are "v1:NAME" and "v2:NAME"; they are never printed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"time"

	secretsv1 "github.com/secrets-service/gen/go/secrets/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const deadline = 60 * time.Second

// bearer sends `authorization: Bearer <token>` with every call, over plaintext too (a loopback dev server).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

type summary struct {
	Client         string `json:"client"`
	Name           string `json:"name"`
	CreatedVersion int64  `json:"created_version"`
	PutVersion     int64  `json:"put_version"`
	LatestVersion  int64  `json:"latest_version"`
	Version1Read   int64  `json:"version1_read"`
	Listed         bool   `json:"listed"`
	AbsentCode     string `json:"absent_code"`
}

type failure struct{ msg string }

func (f failure) Error() string { return f.msg }

func check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return failure{fmt.Sprintf(format, args...)}
}

func run(client secretsv1.SecretsServiceClient, name string) (*summary, error) {
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), deadline)
	}

	ctx, cancel := call()
	created, err := client.CreateSecret(ctx, &secretsv1.CreateSecretRequest{
		Name: name, Value: "v1:" + name, Description: "go client", Metadata: map[string]string{"client": "go"},
	})
	cancel()
	if err != nil {
		return nil, err
	}
	s := created.GetSecret()
	if err := errors.Join(
		check(s.GetName() == name, "CreateSecret answered name %q", s.GetName()),
		check(s.GetLatestVersion() == 1, "CreateSecret answered latest_version %d", s.GetLatestVersion()),
	); err != nil {
		return nil, err
	}

	getValue := func(version int64) (*secretsv1.GetSecretValueResponse, error) {
		ctx, cancel := call()
		defer cancel()
		return client.GetSecretValue(ctx, &secretsv1.GetSecretValueRequest{Name: name, Version: version})
	}
	value, err := getValue(0)
	if err != nil {
		return nil, err
	}
	if err := check(value.GetVersion() == 1 && value.GetValue() == "v1:"+name, "GetSecretValue after create answered version %d", value.GetVersion()); err != nil {
		return nil, err
	}

	ctx, cancel = call()
	put, err := client.PutSecretValue(ctx, &secretsv1.PutSecretValueRequest{Name: name, Value: "v2:" + name})
	cancel()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(
		check(put.GetVersion().GetVersion() == 2, "PutSecretValue answered version %d", put.GetVersion().GetVersion()),
		check(put.GetSecret().GetLatestVersion() == 2, "PutSecretValue answered latest_version %d", put.GetSecret().GetLatestVersion()),
	); err != nil {
		return nil, err
	}

	latest, err := getValue(0)
	if err != nil {
		return nil, err
	}
	if err := check(latest.GetVersion() == 2 && latest.GetValue() == "v2:"+name, "GetSecretValue of the latest answered version %d", latest.GetVersion()); err != nil {
		return nil, err
	}
	first, err := getValue(1)
	if err != nil {
		return nil, err
	}
	if err := check(first.GetVersion() == 1 && first.GetValue() == "v1:"+name, "GetSecretValue of version 1 answered version %d", first.GetVersion()); err != nil {
		return nil, err
	}

	var listed *secretsv1.Secret
	pageToken := ""
	for {
		ctx, cancel := call()
		page, err := client.ListSecrets(ctx, &secretsv1.ListSecretsRequest{NamePrefix: name, PageToken: pageToken})
		cancel()
		if err != nil {
			return nil, err
		}
		for _, candidate := range page.GetSecrets() {
			if candidate.GetName() == name && listed == nil {
				listed = candidate
			}
		}
		if pageToken = page.GetNextPageToken(); pageToken == "" {
			break
		}
	}
	if err := check(listed != nil, "ListSecrets did not list %s", name); err != nil {
		return nil, err
	}
	if err := errors.Join(
		check(listed.GetLatestVersion() == 2, "ListSecrets shows latest_version %d", listed.GetLatestVersion()),
		check(maps.Equal(listed.GetMetadata(), map[string]string{"client": "go"}), "ListSecrets shows metadata %v", listed.GetMetadata()),
	); err != nil {
		return nil, err
	}

	absent := name + "_absent"
	ctx, cancel = call()
	_, err = client.GetSecretValue(ctx, &secretsv1.GetSecretValueRequest{Name: absent})
	cancel()
	if err == nil {
		return nil, failure{"GetSecretValue of " + absent + " succeeded"}
	}
	if err := check(status.Code(err) == codes.NotFound, "GetSecretValue of %s answered %s", absent, status.Code(err)); err != nil {
		return nil, err
	}

	return &summary{
		Client:         "go",
		Name:           name,
		CreatedVersion: s.GetLatestVersion(),
		PutVersion:     put.GetVersion().GetVersion(),
		LatestVersion:  latest.GetVersion(),
		Version1Read:   first.GetVersion(),
		Listed:         true,
		AbsentCode:     "NOT_FOUND",
	}, nil
}

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

func main() {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	addr := flag.String("addr", env("SECRETS_ADDR", "127.0.0.1:50051"), "host:port of the service (plaintext gRPC)")
	token := flag.String("token", os.Getenv("SECRETS_TOKEN"), "bearer token")
	name := flag.String("name", "go_client_"+hex.EncodeToString(suffix), "name of the secret to create")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "roundtrip: no token (-token or SECRETS_TOKEN)")
		os.Exit(2)
	}

	conn, err := grpc.NewClient(*addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(*token)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "roundtrip: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()

	result, err := run(secretsv1.NewSecretsServiceClient(conn), *name)
	if err != nil {
		var f failure
		if errors.As(err, &f) {
			fmt.Fprintf(os.Stderr, "roundtrip: unexpected result: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "roundtrip: call failed: %s: %s\n", status.Code(err), status.Convert(err).Message())
		}
		conn.Close()
		os.Exit(1)
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}

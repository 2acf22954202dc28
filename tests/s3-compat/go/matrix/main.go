// The Go SDK v2 (Debian's golang-github-aws-aws-sdk-go-v2-dev, built offline in GOPATH mode)
// against an endpoint: create a bucket, put/get (ranged too)/head, list with a delimiter, a
// three-part multipart upload, a presigned GET and PUT, delete, path or virtual-hosted style.
// Settings from the environment (S3_ENDPOINT, S3_BUCKET, FORCE_PATH_STYLE, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints "ok <step>" per step; exits non-zero on the
// first failure.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func check(ok bool, what string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "check failed: "+what+"\n", args...)
		os.Exit(1)
	}
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func step(name string) { fmt.Printf("ok %s\n", name) }

func random(n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	must(err, "random bytes")
	return b
}

func quotedMD5(b []byte) string {
	sum := md5.Sum(b)
	return "\"" + hex.EncodeToString(sum[:]) + "\""
}

func main() {
	ctx := context.Background()
	bucket := aws.String(os.Getenv("S3_BUCKET"))
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	client := s3.New(s3.Options{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		EndpointResolver: s3.EndpointResolverFromURL(os.Getenv("S3_ENDPOINT")),
		UsePathStyle:     os.Getenv("FORCE_PATH_STYLE") == "true",
	})

	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
	must(err, "CreateBucket")
	step("create-bucket")

	small := random(100000)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: bucket, Key: aws.String("dir/small.bin"), Body: bytes.NewReader(small),
		ContentType: aws.String("application/x-test"), Metadata: map[string]string{"origin": "go"},
	})
	must(err, "PutObject")
	check(aws.ToString(put.ETag) == quotedMD5(small), "ETag %s", aws.ToString(put.ETag))
	step("put-object")

	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/small.bin")})
	must(err, "GetObject")
	body, err := io.ReadAll(got.Body)
	must(err, "GetObject body")
	check(bytes.Equal(body, small), "GET returns the bytes")
	check(aws.ToString(got.ContentType) == "application/x-test" && got.Metadata["origin"] == "go", "headers and metadata")
	ranged, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/small.bin"), Range: aws.String("bytes=10-19")})
	must(err, "ranged GetObject")
	part, err := io.ReadAll(ranged.Body)
	must(err, "ranged body")
	check(bytes.Equal(part, small[10:20]), "ranged GET")
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("dir/small.bin")})
	must(err, "HeadObject")
	check(head.ContentLength == int64(len(small)), "HEAD length %d", head.ContentLength)
	step("get-object")

	for i := 0; i < 5; i++ {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(fmt.Sprintf("list/%d/x", i)), Body: bytes.NewReader([]byte("x"))})
		must(err, "PutObject for listing")
	}
	listed, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("list/"), Delimiter: aws.String("/")})
	must(err, "ListObjectsV2")
	check(len(listed.CommonPrefixes) == 5 && len(listed.Contents) == 0, "5 prefixes, got %d", len(listed.CommonPrefixes))
	var pages int
	paginator := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: bucket, MaxKeys: 2})
	var keys int
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		must(err, "ListObjectsV2 page")
		pages++
		keys += len(page.Contents)
	}
	check(keys == 6 && pages == 3, "paged listing: %d keys in %d pages", keys, pages)
	step("list-objects-v2")

	upload, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("big.bin")})
	must(err, "CreateMultipartUpload")
	var parts []types.CompletedPart
	var whole []byte
	for n := int32(1); n <= 3; n++ {
		size := 5 << 20
		if n == 3 {
			size = 1000
		}
		data := random(size)
		whole = append(whole, data...)
		up, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("big.bin"), UploadId: upload.UploadId, PartNumber: n, Body: bytes.NewReader(data)})
		must(err, "UploadPart")
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: n})
	}
	done, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: bucket, Key: aws.String("big.bin"), UploadId: upload.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	must(err, "CompleteMultipartUpload")
	check(len(aws.ToString(done.ETag)) > 0, "multipart ETag")
	big, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("big.bin")})
	must(err, "GetObject of the multipart object")
	bigBody, err := io.ReadAll(big.Body)
	must(err, "multipart body")
	check(bytes.Equal(bigBody, whole), "multipart object reads back")
	step("multipart-upload")

	presigner := s3.NewPresignClient(client)
	putURL, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("presigned.txt")})
	must(err, "PresignPutObject")
	req, err := http.NewRequest(http.MethodPut, putURL.URL, bytes.NewReader([]byte("via a presigned PUT")))
	must(err, "presigned PUT request")
	for name, values := range putURL.SignedHeader {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	must(err, "presigned PUT")
	resp.Body.Close()
	check(resp.StatusCode == 200, "presigned PUT status %d", resp.StatusCode)
	getURL, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("presigned.txt")})
	must(err, "PresignGetObject")
	resp, err = http.Get(getURL.URL)
	must(err, "presigned GET")
	fetched, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(err, "presigned GET body")
	check(resp.StatusCode == 200 && string(fetched) == "via a presigned PUT", "presigned GET: %d %q", resp.StatusCode, fetched)
	step("presign")

	all, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
	must(err, "ListObjectsV2 before delete")
	var ids []types.ObjectIdentifier
	for _, o := range all.Contents {
		if aws.ToString(o.Key) != "big.bin" {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
	}
	deleted, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: ids}})
	must(err, "DeleteObjects")
	check(len(deleted.Errors) == 0 && len(deleted.Deleted) == len(ids), "DeleteObjects deleted %d of %d", len(deleted.Deleted), len(ids))
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("big.bin")})
	must(err, "DeleteObject")
	_, err = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
	must(err, "DeleteBucket")
	step("delete")
}

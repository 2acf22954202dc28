# The Ruby SDK (Debian's ruby-aws-sdk-s3) against an endpoint: create a bucket, put/get (ranged
# too)/head, list with a delimiter and by pages, a three-part multipart upload, a presigned GET
# and PUT, delete; path or virtual-hosted style. Settings from the environment (S3_ENDPOINT,
# S3_BUCKET, FORCE_PATH_STYLE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints
# "ok <step>" per step; exits non-zero on the first failure.
require 'aws-sdk-s3'
require 'digest'
require 'net/http'
require 'securerandom'
require 'uri'

def check(ok, what)
  return if ok
  warn "check failed: #{what}"
  exit 1
end

def step(name)
  puts "ok #{name}"
  $stdout.flush
end

bucket = ENV.fetch('S3_BUCKET')
s3 = Aws::S3::Client.new(
  endpoint: ENV.fetch('S3_ENDPOINT'),
  region: ENV.fetch('AWS_REGION', 'us-east-1'),
  access_key_id: ENV.fetch('AWS_ACCESS_KEY_ID'),
  secret_access_key: ENV.fetch('AWS_SECRET_ACCESS_KEY'),
  force_path_style: ENV['FORCE_PATH_STYLE'] == 'true'
)

s3.create_bucket(bucket: bucket)
step 'create-bucket'

small = SecureRandom.random_bytes(100_000)
put = s3.put_object(bucket: bucket, key: 'dir/small.bin', body: small,
                    content_type: 'application/x-test', metadata: { 'origin' => 'ruby' })
check put.etag == "\"#{Digest::MD5.hexdigest(small)}\"", "ETag #{put.etag}"
step 'put-object'

got = s3.get_object(bucket: bucket, key: 'dir/small.bin')
check got.body.read.b == small.b, 'GET returns the bytes'
check got.content_type == 'application/x-test' && got.metadata['origin'] == 'ruby', 'headers and metadata'
ranged = s3.get_object(bucket: bucket, key: 'dir/small.bin', range: 'bytes=10-19')
check ranged.body.read.b == small.byteslice(10, 10).b, 'ranged GET'
head = s3.head_object(bucket: bucket, key: 'dir/small.bin')
check head.content_length == small.bytesize, "HEAD length #{head.content_length}"
step 'get-object'

5.times { |i| s3.put_object(bucket: bucket, key: "list/#{i}/x", body: 'x') }
listed = s3.list_objects_v2(bucket: bucket, prefix: 'list/', delimiter: '/')
check listed.common_prefixes.size == 5 && listed.contents.empty?, "5 prefixes, got #{listed.common_prefixes.size}"
pages = s3.list_objects_v2(bucket: bucket, max_keys: 2).to_a
keys = pages.sum { |page| page.contents.size }
check keys == 6 && pages.size == 3, "paged listing: #{keys} keys in #{pages.size} pages"
step 'list-objects-v2'

upload = s3.create_multipart_upload(bucket: bucket, key: 'big.bin')
whole = ''.b
parts = (1..3).map do |n|
  data = SecureRandom.random_bytes(n == 3 ? 1000 : 5 * 1024 * 1024)
  whole << data
  part = s3.upload_part(bucket: bucket, key: 'big.bin', upload_id: upload.upload_id, part_number: n, body: data)
  { etag: part.etag, part_number: n }
end
done = s3.complete_multipart_upload(bucket: bucket, key: 'big.bin', upload_id: upload.upload_id,
                                    multipart_upload: { parts: parts })
check done.etag.end_with?('-3"'), "multipart ETag #{done.etag}"
check s3.get_object(bucket: bucket, key: 'big.bin').body.read.b == whole.b, 'multipart object reads back'
step 'multipart-upload'

presigner = Aws::S3::Presigner.new(client: s3)
put_url = URI(presigner.presigned_url(:put_object, bucket: bucket, key: 'presigned.txt'))
Net::HTTP.start(put_url.host, put_url.port) do |http|
  answer = http.request(Net::HTTP::Put.new(put_url, 'Content-Type' => ''), 'via a presigned PUT')
  check answer.code == '200', "presigned PUT status #{answer.code}: #{answer.body}"
end
get_url = URI(presigner.presigned_url(:get_object, bucket: bucket, key: 'presigned.txt'))
answer = Net::HTTP.get_response(get_url)
check answer.code == '200' && answer.body == 'via a presigned PUT', "presigned GET #{answer.code}"
step 'presign'

keys = s3.list_objects_v2(bucket: bucket).contents.map(&:key)
gone = s3.delete_objects(bucket: bucket, delete: { objects: keys.map { |k| { key: k } } })
check gone.errors.empty? && gone.deleted.size == keys.size, "DeleteObjects deleted #{gone.deleted.size} of #{keys.size}"
s3.delete_bucket(bucket: bucket)
step 'delete'

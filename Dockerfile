# The s3store image: the two binaries (`gateway`, `storage-node`) on PATH and the shared
# libraries they load, on an empty base; runs as user 65532 (writable /data for a node).
#
#   docker build -t s3store:0.1.0 .          (or podman build)
#
# scripts/image.sh assembles the same image with buildah from binaries built here, without a
# registry or a daemon, and loads it into podman.
FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The dev profile is the optimised one (opt-level 3; see Cargo.toml); debug info is stripped.
RUN cargo build --locked --bin gateway --bin storage-node \
 && mkdir -p /out/root/usr/local/bin /out/data \
 && for b in gateway storage-node; do strip -o /out/root/usr/local/bin/$b target/debug/$b; done \
 && for lib in $(ldd /out/root/usr/local/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do \
      cp --parents -L "$lib" /out/root/; \
    done

FROM scratch
COPY --from=build /out/root/ /
COPY --from=build --chown=65532:65532 /out/data /data
ENV PATH=/usr/local/bin
USER 65532:65532
EXPOSE 9000 9080 9101
CMD ["gateway", "--help"]

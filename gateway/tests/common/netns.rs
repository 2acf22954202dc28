//! Storage nodes in their own network namespaces, each reached from the host (where the
//! gateways run) over a veth pair, so a test can cut a node off and heal it: a partition, not
//! a crash. Needs root and `ip netns`.

use std::process::Command;

/// Three namespaces with a veth pair each; removed again on drop.
pub struct Namespaces {
    pub names: Vec<String>,
    host_ifs: Vec<String>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Namespaces {
    /// Namespace `i` has address 10.<net>.<i>.2, the host side 10.<net>.<i>.1.
    pub fn create(count: usize) -> Result<(Namespaces, Vec<String>), String> {
        let tag = std::process::id() % 10_000;
        let net = 100 + tag % 100;
        let mut ns = Namespaces {
            names: Vec::new(),
            host_ifs: Vec::new(),
        };
        let mut addresses = Vec::new();
        for i in 0..count {
            let name = format!("s3p{tag}n{i}");
            let (host_if, ns_if) = (format!("s3h{tag}x{i}"), format!("s3n{tag}x{i}"));
            if !ip(&["netns", "add", &name]) {
                return Err(format!("`ip netns add {name}` failed"));
            }
            ns.names.push(name.clone());
            let host_addr = format!("10.{net}.{i}.1/30");
            let ns_addr = format!("10.{net}.{i}.2/30");
            let steps: [&[&str]; 6] = [
                &[
                    "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
                ],
                &["link", "set", &ns_if, "netns", &name],
                &["addr", "add", &host_addr, "dev", &host_if],
                &["link", "set", &host_if, "up"],
                &["-n", &name, "addr", "add", &ns_addr, "dev", &ns_if],
                &["-n", &name, "link", "set", &ns_if, "up"],
            ];
            for step in steps {
                if !ip(step) {
                    return Err(format!("`ip {}` failed", step.join(" ")));
                }
            }
            ip(&["-n", &name, "link", "set", "lo", "up"]);
            ns.host_ifs.push(host_if);
            addresses.push(format!("10.{net}.{i}.2"));
        }
        Ok((ns, addresses))
    }

    pub fn cut(&self, i: usize) {
        assert!(ip(&["link", "set", &self.host_ifs[i], "down"]));
    }

    pub fn heal(&self, i: usize) {
        assert!(ip(&["link", "set", &self.host_ifs[i], "up"]));
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            ip(&["netns", "del", name]); // removes the veth pair with it
        }
    }
}

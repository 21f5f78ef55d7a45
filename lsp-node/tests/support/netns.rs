//! A small network of hosts in Linux network namespaces, for multi-host
//! tests. A switch namespace holds two bridges; each host namespace has
//! one link, `eth0` with 10.77.0.N/24, to a port `pN` on the switch. A
//! link is cut by taking its switch port down (a cable pulled: no
//! goodbye), and the hosts are split in two by moving ports to the second
//! bridge. Everything lives in namespaces this lab created, which it
//! deletes when dropped. It needs root (`ip netns`).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

#[derive(Debug)]
pub struct Lab {
    prefix: String,
    hosts: usize,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// Hosts 1..=`hosts`, all on the first bridge. Err when namespaces
    /// cannot be made here (not root, no `ip`).
    pub fn create(hosts: usize) -> Result<Lab, String> {
        let mut lab = Lab {
            prefix: format!("lsp{}", std::process::id()),
            hosts: 0,
        };
        let sw = lab.switch();
        ip(&["netns", "add", &sw])?;
        for br in ["br0", "br1"] {
            ip(&["-n", &sw, "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &sw, "link", "set", br, "up"])?;
        }
        for n in 1..=hosts {
            let ns = lab.ns(n);
            ip(&["netns", "add", &ns])?;
            lab.hosts = n;
            let port = format!("p{n}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
            let cidr = format!("{}/24", Lab::addr(n));
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// The namespace of host `n`.
    pub fn ns(&self, n: usize) -> String {
        format!("{}-h{n}", self.prefix)
    }

    /// Host `n`'s address.
    pub fn addr(n: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, u8::try_from(n).unwrap_or(u8::MAX))
    }

    fn port(&self, n: usize, args: &[&str]) {
        let (sw, port) = (self.switch(), format!("p{n}"));
        let mut all = vec!["-n", sw.as_str(), "link", "set", port.as_str()];
        all.extend_from_slice(args);
        ip(&all).unwrap();
    }

    /// Cuts host `n`'s link.
    pub fn cut(&self, n: usize) {
        self.port(n, &["down"]);
    }

    /// Mends host `n`'s link.
    pub fn mend(&self, n: usize) {
        self.port(n, &["up"]);
    }

    /// Moves `hosts` to the second bridge: they reach each other and no
    /// one else.
    pub fn split(&self, hosts: &[usize]) {
        for n in hosts {
            self.port(*n, &["master", "br1"]);
        }
    }

    /// Puts every host back on the first bridge.
    pub fn heal(&self) {
        for n in 1..=self.hosts {
            self.port(n, &["master", "br0"]);
        }
    }

    /// Runs `f` on a thread inside host `n`'s namespace: its sockets, and
    /// the processes it starts, are on that host.
    pub fn run<T: Send>(&self, n: usize, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns(n));
        std::thread::scope(|s| {
            s.spawn(move || {
                let ns = File::open(&path).unwrap();
                move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Starts `f` on a thread inside host `n`'s namespace, for work that
    /// goes on beside the test's own steps.
    pub fn spawn<T: Send + 'static>(
        &self,
        n: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.ns(n));
        std::thread::spawn(move || {
            let ns = File::open(&path).unwrap();
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
            f()
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in 1..=self.hosts {
            let _ = ip(&["netns", "del", &self.ns(n)]);
        }
        let _ = ip(&["netns", "del", &self.switch()]);
    }
}

//! What the network checks read, as plain values: the function's settings, subnets, route
//! tables, interface endpoints, security groups, network ACLs and the database. The reader
//! (`read.rs`) fills these from the AWS APIs; the checks reason over them alone.

use std::collections::BTreeMap;

/// The rotation function's settings that decide whether it can run and reach anything.
#[derive(Debug, Clone, Default)]
pub struct Function {
    /// The function's name.
    pub name: String,
    /// Its ARN (the account is read from it).
    pub arn: String,
    /// The configured timeout in seconds.
    pub timeout_s: i64,
    /// The subnets of its VpcConfig (empty: not in a VPC).
    pub subnet_ids: Vec<String>,
    /// The security groups of its VpcConfig.
    pub security_group_ids: Vec<String>,
    /// Its environment variables (settings such as `DB_CONNECT_TIMEOUT_MS`).
    pub environment: BTreeMap<String, String>,
}

/// A subnet: where a function, an endpoint interface or a database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// The availability zone.
    pub az: String,
    /// The IPv4 CIDR block.
    pub cidr: String,
}

/// Where a route sends its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Within the VPC.
    Local,
    /// A NAT gateway (`nat-…`): the way out for a function, which has no public IP.
    Nat(String),
    /// An internet gateway (`igw-…`): no way out for a function on its own.
    InternetGateway(String),
    /// A peering connection, transit gateway or other target the checks cannot follow.
    Other(String),
}

/// One route of a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The IPv4 destination (`0.0.0.0/0`), or a prefix list id.
    pub destination: String,
    /// Where it goes.
    pub target: Target,
    /// False when AWS marks it `blackhole`.
    pub active: bool,
}

/// A route table and the subnets it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    /// `rtb-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// The VPC's main table (applies to every subnet without an explicit association).
    pub main: bool,
    /// Subnets explicitly associated.
    pub subnet_ids: Vec<String>,
    /// Its routes.
    pub routes: Vec<Route>,
}

/// An interface (or gateway) VPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `vpce-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// `com.amazonaws.<region>.secretsmanager`.
    pub service_name: String,
    /// Interface endpoints have network interfaces in subnets; gateway endpoints do not.
    pub interface: bool,
    /// The subnets of its network interfaces.
    pub subnet_ids: Vec<String>,
    /// Its security groups.
    pub security_group_ids: Vec<String>,
    /// Whether the service's default hostname resolves to it.
    pub private_dns: bool,
    /// Its state (`available`, `pending`, ...), lower case.
    pub state: String,
    /// Its policy document (None: the default, full access).
    pub policy: Option<String>,
}

/// A NAT gateway: the way out of a private subnet, through its own subnet's route to an
/// internet gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatGateway {
    /// `nat-…`.
    pub id: String,
    /// The subnet it lives in.
    pub subnet_id: String,
    /// A public NAT gateway (a private one only reaches other networks).
    pub public: bool,
    /// Its state (`available`, `failed`, ...), lower case.
    pub state: String,
}

/// One security group rule (ingress or egress).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SgRule {
    /// `-1` (all), `tcp`, `udp`, `icmp` or a protocol number.
    pub protocol: String,
    /// The first port (None: all).
    pub from_port: Option<i32>,
    /// The last port (None: all).
    pub to_port: Option<i32>,
    /// IPv4 CIDR blocks.
    pub cidrs: Vec<String>,
    /// Referenced security groups.
    pub groups: Vec<String>,
    /// Referenced prefix lists (not resolved by the checks).
    pub prefix_lists: Vec<String>,
    /// Whether it also has IPv6 ranges (not evaluated: the checks reason about IPv4).
    pub ipv6: bool,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// Inbound rules.
    pub ingress: Vec<SgRule>,
    /// Outbound rules.
    pub egress: Vec<SgRule>,
}

/// One network ACL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// Evaluated lowest first; the first match decides.
    pub rule_number: i32,
    /// Outbound (true) or inbound.
    pub egress: bool,
    /// Allow (true) or deny.
    pub allow: bool,
    /// `-1` (all) or a protocol number (`6` is TCP).
    pub protocol: String,
    /// The port range (None: all ports).
    pub ports: Option<(i32, i32)>,
    /// The IPv4 CIDR (None: an IPv6 entry, which IPv4 traffic never matches).
    pub cidr: Option<String>,
}

/// A network ACL and the subnets it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    /// `acl-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// The VPC's default ACL.
    pub default: bool,
    /// Associated subnets.
    pub subnet_ids: Vec<String>,
    /// Its entries, in no particular order.
    pub entries: Vec<AclEntry>,
}

/// The RDS instance or cluster whose endpoint is the secret's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The instance or cluster identifier.
    pub id: String,
    /// `instance` or `cluster`.
    pub kind: &'static str,
    /// The port it listens on.
    pub port: i32,
    /// Its VPC.
    pub vpc_id: String,
    /// The subnets it may live in (for an instance: the one in its availability zone when known).
    pub subnet_ids: Vec<String>,
    /// Its VPC security groups.
    pub security_group_ids: Vec<String>,
    /// Whether it has a public address.
    pub publicly_accessible: bool,
    /// Its engine (`postgres`, `mysql`, `aurora-postgresql`, …) and version (`16.4`), as RDS
    /// reports them: an old rotation function's tests depend on them.
    pub engine: Option<String>,
    /// Its engine version.
    pub engine_version: Option<String>,
}

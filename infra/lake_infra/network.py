"""Network: the VPC that DMS, the Dagster services and their PostgreSQL run in.

Two availability zones (named, not looked up: synth runs without credentials), public subnets only for the NAT
gateway, private subnets with egress for ECS tasks and the DMS instance, isolated subnets for RDS. S3 is
reached through a gateway endpoint (no NAT charge for the lake's traffic). Flow logs go to an encrypted log
group. The default security group is locked down (no rules).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from lake_infra.common import LakeStack, lint_ignore


class NetworkStack(LakeStack):
    concern = "network"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        """``kwargs``: ``LakeStack``'s, with the storage stack's ``key``."""
        super().__init__(scope, construct_id, **kwargs)
        key = self.key
        d = self.deployment
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(d.vpc_cidr),
            availability_zones=list(d.azs),
            nat_gateways=d.nat_gateways,
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        # Nothing gets a public address by itself: the NAT gateway has its Elastic IP; no task asks for one.
        for subnet in self.vpc.public_subnets:
            cfn = subnet.node.default_child
            assert isinstance(cfn, ec2.CfnSubnet)
            cfn.map_public_ip_on_launch = False
        for subnet in [*self.vpc.public_subnets, *self.vpc.private_subnets, *self.vpc.isolated_subnets]:
            lint_ignore(
                subnet,
                (
                    "W3010",
                    "The zones are named in the deployment (availability_zones): synth needs no lookup.",
                ),
            )
        self.vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.log_group("FlowLogGroup", key)),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

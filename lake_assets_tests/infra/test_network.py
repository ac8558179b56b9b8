"""The network stack: two named zones, private subnets for the services, an S3 endpoint, flow logs."""

from __future__ import annotations

from lake_assets_tests.infra.conftest import REGION, Synth

STACK = "LakeNetwork"


def test_subnets_in_the_named_zones_and_none_hands_out_public_addresses(synth: Synth) -> None:
    subnets = [v["Properties"] for v in synth.resources(STACK, "AWS::EC2::Subnet").values()]
    assert len(subnets) == 6
    assert {s["AvailabilityZone"] for s in subnets} == {f"{REGION}a", f"{REGION}b"}
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert len(synth.resources(STACK, "AWS::EC2::NatGateway")) == 1


def test_s3_through_a_gateway_endpoint_and_rejected_traffic_logged(synth: Synth) -> None:
    (endpoint,) = synth.resources(STACK, "AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    (flow,) = synth.resources(STACK, "AWS::EC2::FlowLog").values()
    assert flow["Properties"]["TrafficType"] == "REJECT"
    (group,) = synth.resources(STACK, "AWS::Logs::LogGroup").values()
    assert "KmsKeyId" in group["Properties"] and group["Properties"]["RetentionInDays"] == 365

import { expect, test } from "bun:test";
import { XwError } from "../../src/errors";
import { parseLinks, type Link } from "../../src/tools/ip";

const LO = '{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"operstate":"UNKNOWN","link_type":"loopback"}';

test.each<[string, string, Link[]]>([
  ["nothing attached", `[${LO}]`, [{ ifindex: 1, ifname: "lo", operstate: "UNKNOWN", xdp: [], kind: undefined, linkType: "loopback" }]],
  [
    "one program, with -d details",
    '[{"ifindex":7,"ifname":"veth0","operstate":"UP","link_type":"ether","linkinfo":{"info_kind":"veth"},' +
      '"xdp":{"mode":2,"prog":{"id":42,"name":"xdpwatch","tag":"0223668244082900","jited":1}}}]',
    [{ ifindex: 7, ifname: "veth0", operstate: "UP", kind: "veth", linkType: "ether", xdp: [{ id: 42, name: "xdpwatch", tag: "0223668244082900", mode: "generic" }] }],
  ],
  [
    "multi mode: each program with its own mode",
    '[{"ifindex":3,"ifname":"eth0","xdp":{"mode":4,"attached":[{"mode":1,"prog":{"id":5,"name":"a","tag":"aa"}},{"mode":3,"prog":{"id":6}}]}}]',
    [{ ifindex: 3, ifname: "eth0", operstate: undefined, kind: undefined, linkType: undefined, xdp: [{ id: 5, name: "a", tag: "aa", mode: "native" }, { id: 6, name: "", tag: "", mode: "offload" }] }],
  ],
])("parseLinks: %s", (_, text, links) => {
  expect(parseLinks(text)).toEqual(links);
});

test.each([
  ["{}", "the answer is not a list of objects"],
  ['[{"ifname":"lo"}]', "link 0 ifindex is not a number"],
  [`[${LO},{"ifindex":2,"ifname":3}]`, "link 1 ifname is not a string"],
  ['[{"ifindex":2,"ifname":"x","xdp":{"mode":1,"prog":{"id":"9"}}}]', "link 0 program 0 id is not a number"],
  ['[{"ifindex":2,"ifname":"x","xdp":{"mode":4,"attached":[{"mode":1}]}}]', "link 0 program 0 prog is not an object"],
  ['[{"ifindex":2,"ifname":"x","linkinfo":{"info_kind":1}}]', "link 0 linkinfo.info_kind is not a string"],
])("parseLinks refuses %s: the field is named", (text, why) => {
  expect(() => parseLinks(text)).toThrow(new XwError(`unexpected output from ip -j link: ${why}`));
});

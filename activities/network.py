"""The network policy of actions that reach the network (api_call, poll, custom actions through
`ctx.http`), after OWASP's SSRF prevention advice.

- Only http and https. Every address a host name resolves to is checked: loopback,
  link-local (cloud metadata: 169.254.169.254, fd00:ec2::254), private, shared (CGNAT),
  multicast, unspecified and reserved addresses are refused, whatever notation the URL used.
- The check runs where the connection is made, on the address it connects to (the HTTP
  client's network backend): no second DNS lookup can swap the address after the check, and
  every redirect (at most HTTP_MAX_REDIRECTS) is checked the same way.
- HTTP_ALLOW_HOSTS opens what a deployment needs: host names (`api.internal`), wildcards
  (`*.example.com`), addresses and CIDRs (`10.0.0.0/8`, `[fd00::/8]`), each with an optional
  port (`127.0.0.1:8765`). A run may add entries of its own (run option `allow_hosts`, set by
  the person who starts it, never by the planner or the analyst) unless the worker says no.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpcore2
import httpx
import httpx2

from agentic.core.errors import ActionError, ErrorType
from agentic.core.network import AllowRule, IPAddress, address_category, parse_rules
from agentic.core.plan import Plan, Task
from agentic.core.policy import destinations


class NetworkRefused(Exception):
    """A connection the policy refuses (raised where the connection would be made)."""


@dataclass(frozen=True)
class NetworkPolicy:
    """What actions may connect to: public addresses, and what the rules allow."""

    rules: tuple[AllowRule, ...] = ()

    def with_rules(self, extra: Iterable[AllowRule]) -> NetworkPolicy:
        """This policy, allowing `extra` too."""
        return NetworkPolicy((*self.rules, *extra))

    async def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for host:port: the first one the policy allows among
        those the host resolves to. NetworkRefused names the host, the address and the rule."""
        if any(rule.allows_name(host, port) for rule in self.rules):
            return (await _resolve(host, port))[0][0]
        refusals = []
        for address_text, address in await _resolve(host, port):
            category = address_category(address)
            allowed = category is None or any(r.allows_address(address, port) for r in self.rules)
            if allowed:
                return address_text
            refusals.append(f"{address} is {category}")
        raise NetworkRefused(
            f"{host}:{port} is not allowed by the network policy ({'; '.join(refusals)}); to "
            f"allow it, add {host}:{port} (or its address or network) to HTTP_ALLOW_HOSTS"
        )


async def _resolve(host: str, port: int) -> list[tuple[str, IPAddress]]:
    """Every address of `host` (an address literal in any notation resolves to itself)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass  # a name, or an address in a notation only the resolver reads (`127.1`)
    else:
        text = str(address).split("%")[0]
        return [(text, ipaddress.ip_address(text))]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
    addresses = []
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%")[0]
        addresses.append((text, ipaddress.ip_address(text)))
    return addresses


class _PolicyGuard:
    """A network backend's methods that connect only where the policy allows, to the address
    it checked (for httpcore's and httpcore2's backends alike)."""

    def __init__(self, policy: NetworkPolicy, inner: Any) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        address = await self._policy.checked_address(host, port)
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> Any:
        raise NetworkRefused(f"unix socket {path} is not allowed by the network policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedBackend(_PolicyGuard, httpcore.AsyncNetworkBackend):
    """httpcore's network backend under the policy."""

    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__(policy, httpcore.AnyIOBackend())


class GuardedBackend2(_PolicyGuard, httpcore2.AsyncNetworkBackend):
    """httpcore2's (httpx2's, which the MCP SDK uses) network backend under the policy."""

    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__(policy, httpcore2.AnyIOBackend())


# Connections one client keeps at most (httpcore's default is 10, which held a worker to 10
# requests at once); what runs at once is bounded by the worker's and the runs' limits.
MAX_CONNECTIONS = 1000


def guarded_client(policy: NetworkPolicy, max_redirects: int) -> httpx.AsyncClient:
    """An HTTP client whose every connection (redirects included) obeys `policy`.

    No proxies from the environment: a proxy would connect for us, past the policy."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx builds its connection pool without a way to pass a network backend; this pool is
    # the same one, with the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=GuardedBackend(policy),
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=100,
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=True, max_redirects=max_redirects, trust_env=False
    )


def guarded_client2(
    policy: NetworkPolicy, headers: dict[str, str], timeout: httpx2.Timeout
) -> httpx2.AsyncClient:
    """An httpx2 client (the MCP SDK's) whose every connection obeys `policy`; no redirects
    and no proxies from the environment."""
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=httpx2.create_ssl_context(), network_backend=GuardedBackend2(policy)
    )
    return httpx2.AsyncClient(
        transport=transport, headers=headers, timeout=timeout, trust_env=False
    )


def refusal_error(error: NetworkRefused, what: str = "a connection") -> ActionError:
    """The task's error for a refused connection (`what`: the request): not retried."""
    return ActionError(f"{what} refused: {error}", ErrorType.NETWORK_POLICY, retryable=False)


class HttpClients:
    """The worker's guarded HTTP clients: one for its own policy, one more for each set of
    hosts a run adds (so that no pooled connection crosses from one policy to another)."""

    def __init__(
        self, policy: NetworkPolicy, *, max_redirects: int = 5, runs_may_add: bool = True
    ) -> None:
        self._policy = policy
        self._max_redirects = max_redirects
        self._runs_may_add = runs_may_add
        self._clients: dict[tuple[str, ...], httpx.AsyncClient] = {}

    def for_run(self, allow_hosts: Iterable[str] = ()) -> httpx.AsyncClient:
        """The client for a run that adds `allow_hosts` to the worker's policy."""
        added = tuple(sorted(set(allow_hosts)))
        if added and not self._runs_may_add:
            raise ActionError(
                f"the run asks to allow {', '.join(added)}, and this worker does not let runs "
                "widen its network policy (HTTP_RUN_ALLOW_HOSTS=false): ask its operator to add "
                "them to HTTP_ALLOW_HOSTS",
                ErrorType.NETWORK_POLICY,
                retryable=False,
            )
        client = self._clients.get(added)
        if client is None:
            policy = self.policy_for(added)
            client = self._clients[added] = guarded_client(policy, self._max_redirects)
        return client

    def policy_for(self, allow_hosts: Iterable[str] = ()) -> NetworkPolicy:
        """The worker's policy widened by what a run allows (already checked by for_run)."""
        return self._policy.with_rules(parse_rules(allow_hosts))

    def policy_of_run(self, allow_hosts: Iterable[str] = ()) -> NetworkPolicy:
        """The policy a run's tasks will meet: widened only when runs may widen it."""
        return self.policy_for(allow_hosts if self._runs_may_add else ())

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


@dataclass(frozen=True)
class PlanNetworkCheck:
    """Where a plan written by the LLM would connect, checked before it runs: a refused host
    goes back to the planner with the reason. `trusted` are the worker's own destinations
    (its DATABASE_URL), which the policy always allows."""

    clients: HttpClients
    trusted: frozenset[tuple[str, int]] = frozenset()

    async def refusals(self, plan: Plan, allow_hosts: Iterable[str] = ()) -> list[str]:
        """Why each destination of the plan is refused, naming the task. A host that cannot
        be resolved now is left to the check where the task connects."""
        return await self.task_refusals(plan.tasks, allow_hosts)

    async def task_refusals(
        self, tasks: Iterable[Task], allow_hosts: Iterable[str] = ()
    ) -> list[str]:
        """`refusals` for some tasks (those a patch adds)."""
        policy = self.clients.policy_of_run(allow_hosts)
        refused = []
        for task in tasks:
            for host, port in destinations(task.action_type, task.action_config) or []:
                if "{{" in host or (host, port) in self.trusted:
                    continue
                try:
                    await policy.checked_address(host, port)
                except NetworkRefused as error:
                    refused.append(f"task {task.id!r}: {error}")
                except httpcore.ConnectError:
                    continue
        return refused

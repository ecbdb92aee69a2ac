using System.Diagnostics;
using System.Net.Sockets;
using RollbackSentinel.Testing.HAProxy;

namespace RollbackSentinel.Actions.Tests.HAProxy;

/// <summary>The <see cref="HAProxyServer"/> fixture itself: it starts, answers, and always stops its haproxy.</summary>
public sealed class HAProxyServerTests
{
    [Fact]
    public async Task Start_AnswersOnBothAdminSockets_AndDisposeKillsTheProcess()
    {
        var haproxy = await HAProxyServer.StartAsync(
            new HAProxyServerOptions { Backend = "web", Servers = [new HAProxyBackendServer("a", "127.0.0.1:9", 7)], TcpAdmin = true },
            CancellationToken.None);
        int pid;
        await using (haproxy)
        {
            pid = haproxy.ProcessId;
            var state = await haproxy.SendCommandAsync("show servers state web", CancellationToken.None);
            Assert.StartsWith("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight", state, StringComparison.Ordinal);
            Assert.Contains(" web 1 a 127.0.0.1 2 0 7 7 ", state, StringComparison.Ordinal);
            Assert.Contains("stats socket ipv4@127.0.0.1:" + haproxy.TcpAdminPort, haproxy.Config, StringComparison.Ordinal);
            Assert.Equal($"tcp://127.0.0.1:{haproxy.TcpAdminPort}/", haproxy.TcpRuntimeApi!.ToString());
            Assert.Equal("unix://" + haproxy.SocketPath, haproxy.RuntimeApi!.ToString());
        }

        Assert.True(HasExited(pid));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await socket.ConnectAsync("127.0.0.1", haproxy.FrontendPort));
    }

    [Fact]
    public async Task Start_BadConfiguration_FailsWithHAProxysOutput()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => HAProxyServer.StartAsync(
            new HAProxyServerOptions { Balance = "no-such-algorithm", Servers = [new HAProxyBackendServer("a", "127.0.0.1:9")] },
            CancellationToken.None));

        Assert.Contains("HAProxy did not become ready", e.Message, StringComparison.Ordinal);
        Assert.Contains("ALERT", e.Message, StringComparison.Ordinal);
        Assert.Contains("balance no-such-algorithm", e.Message, StringComparison.Ordinal);
    }

    private static bool HasExited(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}

using Microsoft.AspNetCore.Http;

namespace RollbackSentinel.Testing.Kubernetes;

/// <summary>A request the emulator holds until released: the moment between two steps of a client, frozen.</summary>
public sealed class EmulatorHold
{
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a matching request arrives (and is being held).</summary>
    public Task Reached => _reached.Task;

    internal Task Released => _released.Task;

    /// <summary>Lets the held request through.</summary>
    public void Release() => _released.TrySetResult();

    internal void Arrived() => _reached.TrySetResult();
}

/// <summary>Faults tests inject: refused, slow and held requests.</summary>
public sealed partial class KubernetesApiEmulator
{
    private readonly List<Fault> _faults = [];

    /// <summary>
    /// Answers the next <paramref name="times"/> requests matching <paramref name="match"/> with an error Status
    /// (e.g. 403 Forbidden) instead of serving them; nothing is changed.
    /// </summary>
    public void FailNext(Func<EmulatorRequest, bool> match, int code, string reason, string message, int times = 1)
    {
        lock (_gate)
        {
            _faults.Add(new Fault(match, times) { Answer = (code, reason, message) });
        }
    }

    /// <summary>Delays the next <paramref name="times"/> matching requests (a client that gives up first aborts the wait).</summary>
    public void DelayNext(Func<EmulatorRequest, bool> match, TimeSpan delay, int times = 1)
    {
        lock (_gate)
        {
            _faults.Add(new Fault(match, times) { Delay = delay });
        }
    }

    /// <summary>Holds the next matching request until <see cref="EmulatorHold.Release"/>, then serves it.</summary>
    public EmulatorHold HoldNext(Func<EmulatorRequest, bool> match)
    {
        var hold = new EmulatorHold();
        lock (_gate)
        {
            _faults.Add(new Fault(match, 1) { Hold = hold });
        }

        return hold;
    }

    /// <summary>Applies a fault to the request, if one matches. True when the request was answered (or abandoned) here.</summary>
    private async Task<bool> ApplyFaultAsync(EmulatorRequest request, HttpContext context)
    {
        Fault? fault;
        lock (_gate)
        {
            fault = _faults.FirstOrDefault(f => f.Remaining > 0 && f.Match(request));
            if (fault is null)
            {
                return false;
            }

            fault.Remaining--;
        }

        using var abandoned = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, context.RequestAborted);
        try
        {
            if (fault.Hold is { } hold)
            {
                hold.Arrived();
                await hold.Released.WaitAsync(abandoned.Token);
            }

            if (fault.Delay > TimeSpan.Zero)
            {
                await Task.Delay(fault.Delay, abandoned.Token);
            }
        }
        catch (OperationCanceledException)
        {
            return true; // the client gave up (or the emulator stops): nobody is left to answer
        }

        if (fault.Answer is { } answer)
        {
            await WriteAsync(context.Response, answer.Code, StatusObject(answer.Code, answer.Reason, answer.Message));
            return true;
        }

        return false;
    }

    private sealed class Fault(Func<EmulatorRequest, bool> match, int times)
    {
        public Func<EmulatorRequest, bool> Match { get; } = match;

        public int Remaining { get; set; } = times;

        public TimeSpan Delay { get; init; }

        public EmulatorHold? Hold { get; init; }

        public (int Code, string Reason, string Message)? Answer { get; init; }
    }
}

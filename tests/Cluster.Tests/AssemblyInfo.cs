// Each test runs real silo processes on a small machine: one test at a time keeps their timing honest.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

! Fortran interfaces (iso_c_binding) to the part of tweedie's C API (tweedie/tweedie.h) the examples
! use; the header documents every function. Strings passed to C end with c_null_char (see cstr).
module tweedie_binding
  use, intrinsic :: iso_c_binding
  implicit none

  integer(c_int), parameter :: TWEEDIE_OK = 0

  ! Mirrors struct tweedie_solve_options field by field (same order, same C types).
  type, bind(c) :: tweedie_solve_options
    integer(c_int64_t) :: struct_size
    type(c_ptr) :: method
    integer(c_int64_t) :: samples
    integer(c_int64_t) :: batch
    integer(c_int64_t) :: seed
    type(c_ptr) :: sampler
    integer(c_int) :: steps
    real(c_double) :: eta
    integer(c_int) :: cg_iterations
    real(c_double) :: tolerance
    type(c_ptr) :: covariance
    real(c_double) :: tweedie_max_noise
    real(c_double) :: zeta
    real(c_double) :: lambda
    integer(c_int) :: iterations
    real(c_double) :: noise_level
    real(c_double) :: rho
  end type

  interface
    function tweedie_version() bind(c)
      import :: c_ptr
      type(c_ptr) :: tweedie_version
    end function
    function tweedie_has_cuda() bind(c)
      import :: c_int
      integer(c_int) :: tweedie_has_cuda
    end function
    function tweedie_context_create(device, threads, out) bind(c)
      import :: c_int, c_char, c_ptr
      character(kind=c_char), intent(in) :: device(*)
      integer(c_int), value :: threads
      type(c_ptr), intent(out) :: out
      integer(c_int) :: tweedie_context_create
    end function
    subroutine tweedie_context_destroy(ctx) bind(c)
      import :: c_ptr
      type(c_ptr), value :: ctx
    end subroutine
    function tweedie_context_error(ctx) bind(c)
      import :: c_ptr
      type(c_ptr), value :: ctx
      type(c_ptr) :: tweedie_context_error
    end function
    function tweedie_prior_open(ctx, path, process, out) bind(c)
      import :: c_int, c_char, c_ptr
      type(c_ptr), value :: ctx
      character(kind=c_char), intent(in) :: path(*)
      type(c_ptr), value :: process
      type(c_ptr), intent(out) :: out
      integer(c_int) :: tweedie_prior_open
    end function
    subroutine tweedie_prior_destroy(prior) bind(c)
      import :: c_ptr
      type(c_ptr), value :: prior
    end subroutine
    function tweedie_problem_from_specs(ctx, operator_spec, noise_spec, x_dims, x_rank, out) bind(c)
      import :: c_int, c_char, c_ptr, c_int64_t
      type(c_ptr), value :: ctx
      character(kind=c_char), intent(in) :: operator_spec(*), noise_spec(*)
      integer(c_int64_t), intent(in) :: x_dims(*)
      integer(c_int), value :: x_rank
      type(c_ptr), intent(out) :: out
      integer(c_int) :: tweedie_problem_from_specs
    end function
    subroutine tweedie_problem_destroy(problem) bind(c)
      import :: c_ptr
      type(c_ptr), value :: problem
    end subroutine
    function tweedie_problem_simulate(ctx, problem, x, n, x_length, seed, y, y_length) bind(c)
      import :: c_int, c_ptr, c_int64_t, c_float
      type(c_ptr), value :: ctx, problem
      real(c_float), intent(in) :: x(*)
      integer(c_int64_t), value :: n, x_length, seed
      real(c_float), intent(inout) :: y(*)
      integer(c_int64_t), value :: y_length
      integer(c_int) :: tweedie_problem_simulate
    end function
    function tweedie_problem_set_y(ctx, problem, y, m, length) bind(c)
      import :: c_int, c_ptr, c_int64_t, c_float
      type(c_ptr), value :: ctx, problem
      real(c_float), intent(in) :: y(*)
      integer(c_int64_t), value :: m, length
      integer(c_int) :: tweedie_problem_set_y
    end function
    function tweedie_problem_adjoint(ctx, problem, y, n, y_length, x, x_length) bind(c)
      import :: c_int, c_ptr, c_int64_t, c_float
      type(c_ptr), value :: ctx, problem
      real(c_float), intent(in) :: y(*)
      integer(c_int64_t), value :: n, y_length
      real(c_float), intent(inout) :: x(*)
      integer(c_int64_t), value :: x_length
      integer(c_int) :: tweedie_problem_adjoint
    end function
    subroutine tweedie_solve_options_init(options) bind(c)
      import :: tweedie_solve_options
      type(tweedie_solve_options), intent(out) :: options
    end subroutine
    function tweedie_solve(ctx, prior, problem, options, samples, samples_length, mean, mean_length, std, std_length) bind(c)
      import :: c_int, c_ptr, c_int64_t, c_float, tweedie_solve_options
      type(c_ptr), value :: ctx, prior, problem
      type(tweedie_solve_options), intent(in) :: options
      type(c_ptr), value :: samples
      integer(c_int64_t), value :: samples_length
      real(c_float), intent(inout) :: mean(*)
      integer(c_int64_t), value :: mean_length
      real(c_float), intent(inout) :: std(*)
      integer(c_int64_t), value :: std_length
      integer(c_int) :: tweedie_solve
    end function
    function tweedie_prior_counters(ctx, prior, forward, jvp, vjp) bind(c)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: ctx, prior
      integer(c_int64_t), intent(out) :: forward, jvp, vjp
      integer(c_int) :: tweedie_prior_counters
    end function
    function c_strlen(s) bind(c, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: c_strlen
    end function
  end interface

contains

  ! A Fortran string as a C string (trailing blanks dropped, NUL appended).
  function cstr(s) result(c)
    character(*), intent(in) :: s
    character(kind=c_char, len=len_trim(s) + 1) :: c
    c = trim(s) // c_null_char
  end function

  ! A C string (const char*) as a Fortran string.
  function fstr(p) result(s)
    type(c_ptr), intent(in) :: p
    character(:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

end module tweedie_binding

! The demo's MRI problem from Fortran through tweedie's C API (the same problem as mri_solve.c): a 64x64
! phantom, 4x accelerated Cartesian k-space with Gaussian noise, solved by MMPS with the learned prior.
!
!   mri_solve_fortran PRIOR.h5 [SAMPLES [STEPS]]
!
! Fortran arrays are column-major: x(j, i) here is the C array's x[i][j], pixel (row i, column j).
program mri_solve_fortran
  use, intrinsic :: iso_c_binding
  use tweedie_binding
  implicit none
  integer, parameter :: side = 64
  integer(c_int64_t), parameter :: pixels = side * side
  type(c_ptr) :: ctx, prior, problem
  type(tweedie_solve_options) :: options
  character(kind=c_char, len=5), target :: method = "mmps" // c_null_char, sampler = "ddpm" // c_null_char
  real(c_float) :: x(side, side), zero_filled(side, side), mean(side, side), spread(side, side), y(2 * pixels)
  integer(c_int64_t) :: x_dims(3) = [1_c_int64_t, int(side, c_int64_t), int(side, c_int64_t)]
  integer(c_int64_t) :: forward, jvp, vjp
  character(len=4096) :: path, arg
  integer :: samples = 4, steps = 50

  if (command_argument_count() < 1) then
    write (*, '(a)') 'usage: mri_solve_fortran PRIOR.h5 [SAMPLES [STEPS]]'
    stop 2
  end if
  call get_command_argument(1, path)
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg)
    read (arg, *) samples
  end if
  if (command_argument_count() >= 3) then
    call get_command_argument(3, arg)
    read (arg, *) steps
  end if
  write (*, '(a, a, a, i0)') 'tweedie ', fstr(tweedie_version()), ' from Fortran, CUDA backend ', tweedie_has_cuda()

  if (tweedie_context_create(cstr('cpu'), 0, ctx) /= TWEEDIE_OK) then
    write (*, '(a)') 'mri_solve_fortran: ' // fstr(tweedie_context_error(c_null_ptr))
    stop 1
  end if
  call check(tweedie_prior_open(ctx, cstr(path), c_null_ptr, prior), 'opening the prior')
  call check(tweedie_problem_from_specs(ctx, cstr('mri:R=4:seed=1'), cstr('gaussian:sigma=0.02'), x_dims, 3, problem), &
             'building the problem')

  call phantom(x)
  call check(tweedie_problem_simulate(ctx, problem, x, 1_c_int64_t, pixels, 7_c_int64_t, y, 2 * pixels), 'simulating k-space')
  call check(tweedie_problem_set_y(ctx, problem, y, 1_c_int64_t, 2 * pixels), 'setting y')
  call check(tweedie_problem_adjoint(ctx, problem, y, 1_c_int64_t, 2 * pixels, zero_filled, pixels), 'zero-filling')

  call tweedie_solve_options_init(options)
  options%method = c_loc(method)
  options%sampler = c_loc(sampler)
  options%samples = samples
  options%steps = steps
  options%seed = 1
  options%tweedie_max_noise = 1  ! as mri_solve.c, which says why
  call check(tweedie_solve(ctx, prior, problem, options, c_null_ptr, 0_c_int64_t, mean, pixels, spread, pixels), 'solving')
  call check(tweedie_prior_counters(ctx, prior, forward, jvp, vjp), 'reading counters')

  write (*, '(a, f0.2, a)') 'zero-filled PSNR ', psnr(zero_filled, x), ' dB'
  write (*, '(a, i0, a, i0, a, f0.2, a, f6.4)') 'MMPS posterior mean of ', samples, ' samples, ', steps, ' steps: PSNR ', &
    psnr(mean, x), ' dB, mean posterior std ', sum(real(spread, c_double)) / pixels
  write (*, '(a, i0, a, i0, a, i0, a)') 'network calls: ', forward, ' forward, ', jvp, ' JVP, ', vjp, ' VJP'

  call tweedie_problem_destroy(problem)
  call tweedie_prior_destroy(prior)
  call tweedie_context_destroy(ctx)

contains

  subroutine check(status, what)
    integer(c_int), intent(in) :: status
    character(*), intent(in) :: what
    if (status == TWEEDIE_OK) return
    write (*, '(a)') 'mri_solve_fortran: ' // what // ': ' // fstr(tweedie_context_error(ctx))
    stop 1
  end subroutine

  ! The phantom of mri_solve.c, pixel for pixel.
  subroutine phantom(img)
    real(c_float), intent(out) :: img(side, side)
    integer :: i, j
    real(c_double) :: u, v, value
    do i = 0, side - 1
      do j = 0, side - 1
        u = (j + 0.5d0) / side * 2 - 1
        v = (i + 0.5d0) / side * 2 - 1
        value = -1
        if (u * u / 0.55d0 + v * v / 0.75d0 < 1) value = 0.8d0
        if (u * u / 0.45d0 + v * v / 0.65d0 < 1) value = -0.1d0
        if ((u - 0.25d0)**2 + (v + 0.2d0)**2 < 0.02d0) value = 0.5d0
        if ((u + 0.3d0)**2 + (v - 0.3d0)**2 < 0.01d0) value = 0.3d0
        img(j + 1, i + 1) = real(value, c_float)
      end do
    end do
  end subroutine

  function psnr(estimate, truth) result(db)
    real(c_float), intent(in) :: estimate(side, side), truth(side, side)
    real(c_double) :: db
    db = 10 * log10(4d0 / (sum((real(estimate, c_double) - truth)**2) / pixels))
  end function

end program

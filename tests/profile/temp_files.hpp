// tests/profile/temp_files.hpp — scratch files for the report tests.
//
//   optimist::test::temp_dir dir;                  // a fresh directory, removed at scope end
//   std::string path = dir.write("a.cpp", "int x;\n");
//   optimist::test::current_directory_guard cd(dir.path());   // chdir, restored at scope end
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace optimist::test {

class temp_dir {
 public:
  temp_dir() {
    static std::atomic<unsigned> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        "optimist_profile_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (info != nullptr) name += std::string("_") + info->name();
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `contents` to `relative` (creating folders) and returns its absolute path.
  std::string write(const std::string& relative, const std::string& contents) const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << contents;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

class current_directory_guard {
 public:
  explicit current_directory_guard(const std::filesystem::path& to)
      : saved_(std::filesystem::current_path()) {
    std::filesystem::current_path(to);
  }
  ~current_directory_guard() {
    std::error_code ec;
    std::filesystem::current_path(saved_, ec);
  }
  current_directory_guard(const current_directory_guard&) = delete;
  current_directory_guard& operator=(const current_directory_guard&) = delete;

 private:
  std::filesystem::path saved_;
};

}  // namespace optimist::test

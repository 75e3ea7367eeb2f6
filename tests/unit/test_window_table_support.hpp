// Helpers shared by the WindowTable test executables.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <ostream>
#include <stdexcept>
#include <string>

#include "xmlrpcguard/address.hpp"

namespace xmlrpcguard {
inline std::ostream& boost_test_print_type(std::ostream& out, const Address& address) {
    return out << address.to_string();
}
}  // namespace xmlrpcguard

namespace xrg_test {

// A MAP_SHARED|MAP_ANONYMOUS mapping: shared with every child forked after it exists.
class SharedRegion {
  public:
    explicit SharedRegion(std::size_t bytes) : bytes_(bytes) {
        base_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) {
            throw std::runtime_error("mmap failed");
        }
    }
    ~SharedRegion() { munmap(base_, bytes_); }
    SharedRegion(const SharedRegion&) = delete;
    SharedRegion& operator=(const SharedRegion&) = delete;

    void* base() const { return base_; }
    std::size_t size() const { return bytes_; }
    template <class T>
    T* as() const {
        return static_cast<T*>(base_);
    }

  private:
    void* base_;
    std::size_t bytes_;
};

// Test addresses only: 198.18.0.0/15 and 2001:db8::/32.
inline xmlrpcguard::Address test_address(std::uint32_t n) {
    if (n % 3 == 2) {
        xmlrpcguard::Address a = *xmlrpcguard::Address::parse("2001:db8::");
        a.bytes[4] = static_cast<std::uint8_t>(n >> 24);
        a.bytes[5] = static_cast<std::uint8_t>(n >> 16);
        a.bytes[6] = static_cast<std::uint8_t>(n >> 8);
        a.bytes[7] = static_cast<std::uint8_t>(n);
        return a;
    }
    return xmlrpcguard::Address::from_ipv4(0xC6120000u + (n & 0x1FFFFu));  // 198.18.0.0/15
}

}  // namespace xrg_test
